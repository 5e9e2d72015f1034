import http from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { dataConverter } from '../../src/codec/data-converter';
import { DISCARD_WORKFLOW_SPANS, tracingFor } from '../../src/observability/tracing';
import { TRACE_HEADER } from '../../src/workflows/interceptors';
import { startStack, type TestStack } from '../helpers/stack';
import { startInProcessWorker, eventually, sleep, type InProcessWorker } from '../helpers/services';
import { apiClient, signedInUser, uniqueEmail, type TestUser } from '../helpers/http';
import { PASSWORD_PROOF, tokenFromMail } from '../helpers/flow';

/**
 * Issue #13 item 5, tracing: a stack with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a receiver of
 * this test exports, for one add flow over HTTP, the HTTP span, the Temporal client's start span,
 * the workflow's run span and the mail activity's span, in one trace, each with the request id, and
 * nothing personal; a stack without it installs nothing and sends nothing.
 */

interface ExportedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, string | number | boolean>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code?: number; message?: string };
  events: { name: string; attributes: Record<string, string | number | boolean> }[];
}

/** A tiny OTLP/HTTP receiver: keeps every request body; spans() reads the JSON ones (what the exporter sends). */
async function startOtlpReceiver() {
  const bodies: { path: string; contentType: string; text: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', text: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const value = (v: Record<string, unknown>) => (v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue) as string | number | boolean;
  const flat = (attrs: { key: string; value: Record<string, unknown> }[] = []) => Object.fromEntries(attrs.map((a) => [a.key, value(a.value)]));
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    spans(): ExportedSpan[] {
      return bodies.flatMap((b) =>
        (JSON.parse(b.text).resourceSpans ?? []).flatMap((rs: any) =>
          rs.scopeSpans.flatMap((ss: any) =>
            ss.spans.map((s: any) => ({
              service: String(flat(rs.resource.attributes)['service.name']),
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              attributes: flat(s.attributes),
              status: s.status ?? {},
              events: (s.events ?? []).map((e: any) => ({ name: e.name, attributes: flat(e.attributes) })),
            })),
          ),
        ),
      );
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
type Receiver = Awaited<ReturnType<typeof startOtlpReceiver>>;

/** A stack (API + in-process worker of this file) whose worker the test can look at. */
async function stackWithWorker(env: Record<string, string>): Promise<{ stack: TestStack; worker: InProcessWorker }> {
  const stack = await startStack(env, { worker: false });
  return { stack, worker: await startInProcessWorker(stack.env) };
}

/** One whole add over HTTP with our own request ids: start, the mailed link's token, verify; waits for the run's end. */
async function addFlow(stack: TestStack, tag: string) {
  const api = apiClient(stack.baseUrl);
  const user: TestUser = await signedInUser(api);
  const email = uniqueEmail(tag);
  const startId = `start-${randomBytes(8).toString('hex')}`;
  const verifyId = `verify-${randomBytes(8).toString('hex')}`;
  const started = await api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) }, headers: { 'x-request-id': startId } });
  expect(started.status, started.text).toBe(202);
  expect(started.headers.get('x-request-id')).toBe(startId);
  const token = await tokenFromMail(stack.smtp, email);
  const verified = await api.post('/v1/email/verify', { json: { token }, headers: { 'x-request-id': verifyId } });
  expect(verified.status, verified.text).toBe(200);
  expect(verified.body.state).toBe('APPROVED');
  const handle = stack.temporal.workflow.getHandle(`email-change-${user.id}`);
  await handle.result();
  return { user, email, token, startId, verifyId, changeId: started.body.change.id as string, history: await handle.fetchHistory() };
}

type Flow = Awaited<ReturnType<typeof addFlow>>;
/** The Temporal client's workflow interceptors (an array as we pass them). */
const clientInterceptors = (stack: TestStack) => (stack.temporal.options.interceptors.workflow ?? []) as unknown[];
/** The Temporal client's span that starts the run (a plain start, or one with an Update or a Signal). */
const STARTS_RUN = /^(StartWorkflow|UpdateWithStartWorkflow|SignalWithStartWorkflow):/;
const tracedHeaders = (history: Flow['history']) => ({
  start: Object.keys(history.events![0]!.workflowExecutionStartedEventAttributes!.header?.fields ?? {}),
  activities: history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => Object.keys(e.activityTaskScheduledEventAttributes!.header?.fields ?? {})),
});

let receiver: Receiver;
let traced: { stack: TestStack; worker: InProcessWorker };
let untraced: { stack: TestStack; worker: InProcessWorker };

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  traced = await stackWithWorker({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
  untraced = await stackWithWorker({});
});

afterAll(async () => {
  for (const s of [traced, untraced]) {
    await s?.stack.stop();
    await s?.worker.stop();
  }
  await receiver?.close();
});

describe('configuration', () => {
  it('is on with an OTLP endpoint (the general one gets /v1/traces), off without one or with OTEL_SDK_DISABLED', () => {
    const base = { TOKEN_SECRET: 'x'.repeat(40) };
    expect(loadConfig(base).observability.tracing).toBeUndefined();
    expect(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).observability.tracing).toEqual({ tracesUrl: 'http://collector:4318/v1/traces', serviceName: undefined });
    expect(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/in', OTEL_SERVICE_NAME: 'svc' }).observability.tracing).toEqual({ tracesUrl: 'https://traces.example/in', serviceName: 'svc' });
    expect(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).observability.tracing).toBeUndefined();
    expect(() => loadConfig({ ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: only http\/json/);
  });
});

describe('tracing on (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  let flow: Flow;
  let spans: ExportedSpan[];
  const find = (name: string, where: (s: ExportedSpan) => boolean = () => true) => spans.find((s) => s.name === name && where(s));

  beforeAll(async () => {
    flow = await addFlow(traced.stack, 'traced');
    // The workflow's spans reach the exporter once its last task is done, and an export the batch timer
    // started may still be in flight after a flush: flush and read until every span looked at below is in.
    const expected = [
      [flow.startId, ['POST /v1/email/change', STARTS_RUN, 'RunWorkflow:emailChange', 'StartActivity:sendVerificationMail', 'RunActivity:sendVerificationMail', 'RunActivity:startRequest']],
      [flow.verifyId, ['POST /v1/email/verify', 'HandleUpdate:verify']],
    ] as const;
    const named = (s: ExportedSpan, name: string | RegExp) => (typeof name === 'string' ? s.name === name : name.test(s.name));
    const complete = (all: ExportedSpan[]) =>
      expected.every(([requestId, names]) => {
        const traceId = all.find((s) => named(s, names[0]) && s.attributes['request.id'] === requestId)?.traceId;
        return names.every((name) => all.some((s) => named(s, name) && s.traceId === traceId));
      });
    for (const deadline = Date.now() + 20_000; ; await sleep(200)) {
      await tracingFor(traced.stack.config, 'api')!.forceFlush();
      await tracingFor(traced.stack.config, 'worker')!.forceFlush();
      spans = receiver.spans();
      if (complete(spans) || Date.now() > deadline) break; // incomplete: the assertions below say what is missing
    }
  });

  it('posts OTLP/HTTP JSON to <endpoint>/v1/traces', () => {
    expect(receiver.bodies.length).toBeGreaterThan(0);
    for (const b of receiver.bodies) expect([b.path, b.contentType]).toEqual(['/v1/traces', 'application/json']);
  });

  it('the start request: HTTP span → client start → workflow run → activity spans, one trace, each with the request id', () => {
    const httpSpan = find('POST /v1/email/change', (s) => s.attributes['request.id'] === flow.startId);
    expect(httpSpan, 'HTTP span').toBeDefined();
    expect(httpSpan).toMatchObject({ service: 'email-change-api', parentSpanId: undefined });
    expect(httpSpan!.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/email/change', 'http.response.status_code': 202, 'user.id': flow.user.id });

    const inTrace = (s: ExportedSpan) => s.traceId === httpSpan!.traceId;
    const start = spans.find((s) => STARTS_RUN.test(s.name) && inTrace(s));
    expect(start, 'client start span').toMatchObject({ service: 'email-change-api', parentSpanId: httpSpan!.spanId });
    expect(start!.attributes).toMatchObject({ 'request.id': flow.startId, temporalWorkflowId: `email-change-${flow.user.id}` });

    // Carried in the workflow's start header: the run's span is the client start span's child.
    const run = find('RunWorkflow:emailChange', inTrace);
    expect(run, 'workflow run span').toMatchObject({ service: 'email-change-worker', parentSpanId: start!.spanId });
    expect(run!.attributes).toMatchObject({ 'request.id': flow.startId, 'email_change.change_id': flow.changeId, 'user.id': flow.user.id, temporalWorkflowId: `email-change-${flow.user.id}` });

    // And from the workflow into the activity's headers: the SMTP send, with the request id from the baggage.
    const schedule = find('StartActivity:sendVerificationMail', inTrace);
    expect(schedule, 'workflow schedule span').toMatchObject({ service: 'email-change-worker' });
    expect(schedule!.attributes['request.id']).toBe(flow.startId);
    const send = find('RunActivity:sendVerificationMail', inTrace);
    expect(send, 'activity span').toMatchObject({ service: 'email-change-worker', parentSpanId: schedule!.spanId });
    expect(send!.attributes).toMatchObject({ 'request.id': flow.startId, 'email_change.change_id': flow.changeId });
    // A local activity (the request's row) is traced the same way.
    expect(find('RunActivity:startRequest', inTrace)?.attributes['request.id']).toBe(flow.startId);
  });

  it('the verify request: its own trace and request id, through the Update into the workflow', () => {
    const httpSpan = find('POST /v1/email/verify', (s) => s.attributes['request.id'] === flow.verifyId);
    expect(httpSpan, 'verify HTTP span').toBeDefined();
    const handle = find('HandleUpdate:verify', (s) => s.traceId === httpSpan!.traceId);
    expect(handle, 'workflow update span').toMatchObject({ service: 'email-change-worker' });
    expect(handle!.attributes['request.id']).toBe(flow.verifyId);
  });

  it('the workflow put the trace context into its activities\' headers', () => {
    const headers = tracedHeaders(flow.history);
    expect(headers.start).toContain(TRACE_HEADER);
    expect(headers.activities.length).toBeGreaterThan(0);
    for (const h of headers.activities) expect(h).toContain(TRACE_HEADER);
  });

  it('exports ids only: no address, link token, password, session, username or IP in anything sent, and only known attribute names', () => {
    const sent = receiver.bodies.map((b) => b.text).join('\n');
    for (const secret of [flow.email, flow.email.split('@')[0]!, flow.token, flow.user.password, flow.user.token, flow.user.username, '127.0.0.1']) {
      expect(sent.includes(secret), `exported text contains ${secret}`).toBe(false);
    }
    const allowed = new Set(['request.id', 'user.id', 'email_change.change_id', 'http.request.method', 'http.route', 'http.response.status_code', 'temporalWorkflowId', 'run_id', 'temporalActivityId', 'temporalUpdateId', 'temporalWorkflowType', 'temporalTaskQueue']);
    for (const s of spans) for (const key of Object.keys(s.attributes)) expect(allowed.has(key), `${s.name}: ${key}`).toBe(true);
  });

  it('an SMTP refusal quoting the address: the failed send is exported as an error, without its message', async () => {
    const api = apiClient(traced.stack.baseUrl);
    const user = await signedInUser(api);
    const email = uniqueEmail('refused');
    traced.stack.smtp.failNext(1, 550, `550 5.1.1 <${email}>: Recipient address rejected`);
    const started = await api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) } });
    expect(started.status, started.text).toBe(202);
    const failed = await eventually(
      async () => {
        await tracingFor(traced.stack.config, 'worker')!.forceFlush();
        return receiver.spans().find((s) => s.name === 'RunActivity:sendVerificationMail' && s.attributes['email_change.change_id'] === started.body.change.id);
      },
      20_000,
      'the failed send span exported',
    );
    expect(failed.status).toEqual({ code: 2 }); // ERROR, with no message
    expect(failed.events.map((e) => e.name)).toContain('exception');
    for (const e of failed.events) expect(Object.keys(e.attributes).every((k) => k === 'exception.type'), JSON.stringify(e)).toBe(true);
    const sent = receiver.bodies.map((b) => b.text).join('\n');
    expect(sent.includes(email.split('@')[0]!), 'the refused address in the export').toBe(false);
    expect(sent.includes('Recipient address rejected')).toBe(false);
    expect((await api.delete('/v1/email/change', { token: user.token })).status).toBe(200);
  });

  it('the worker has the OpenTelemetry activity interceptors and the span sink', () => {
    expect(traced.worker.worker.options.interceptors.activity.length).toBeGreaterThanOrEqual(2);
    expect(traced.worker.worker.options.sinks?.exporter).toBe(tracingFor(traced.stack.config, 'worker')!.workflowSinks.exporter);
    expect(clientInterceptors(traced.stack)).toHaveLength(1);
  });

  it('a traced run\'s history replays against the workflow bundle (the tracing decision is in the history)', async () => {
    await expect(
      Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: dataConverter(traced.stack.config.payloadKeys), sinks: DISCARD_WORKFLOW_SPANS, replayName: 'traced' }, flow.history),
    ).resolves.toBeUndefined();
  });

  it('the replay gate (`npm run replay`) replays the traced runs, with no sink errors', async () => {
    const root = path.resolve(__dirname, '../..');
    const gate = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        path.join(root, 'node_modules/.bin/tsx'),
        ['scripts/replay.ts', '--since', '1h', '--bundle', inject('workflowBundlePath'), '--query', `TaskQueue = "${traced.stack.env.TASK_QUEUE}"`],
        { cwd: root, env: { PATH: process.env.PATH!, NODE_ENV: 'test', TEMPORAL_ADDRESS: traced.stack.env.TEMPORAL_ADDRESS! }, timeout: 120_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
      );
    });
    expect(gate.code, gate.output).toBe(0);
    expect(gate.output).toMatch(/replayed [1-9]\d*: [1-9]\d* ok, 0 nondeterministic, 0 failed; 0 undecodable/);
    expect(gate.output).not.toMatch(/unregistered external sink|ERROR/);
  });
});

describe('tracing off (no OTLP endpoint)', () => {
  it('installs no interceptor, puts no trace context in the history, and nothing of the run is exported', async () => {
    expect(untraced.stack.config.observability.tracing).toBeUndefined();
    expect(tracingFor(untraced.stack.config, 'api')).toBeUndefined();
    expect(clientInterceptors(untraced.stack)).toHaveLength(0);
    expect(untraced.worker.worker.options.interceptors.activity).toHaveLength(0);
    expect(untraced.worker.worker.options.sinks?.exporter).toBe(DISCARD_WORKFLOW_SPANS.exporter);

    const flow = await addFlow(untraced.stack, 'untraced');
    expect(tracedHeaders(flow.history)).toEqual({ start: [], activities: flow.history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map(() => []) });
    // The traced stack's exporters in this process stay on: nothing of this run may go through them.
    await tracingFor(traced.stack.config, 'api')!.forceFlush();
    await tracingFor(traced.stack.config, 'worker')!.forceFlush();
    const sent = receiver.bodies.map((b) => b.text).join('\n');
    for (const id of [flow.startId, flow.verifyId, flow.changeId, flow.user.id]) expect(sent.includes(id), id).toBe(false);
  });
});
