import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../../src/db/migrate';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { startTemporalCluster, type TemporalCluster } from '../../src/dev/temporal-cluster';
import { createLogger } from '../../src/log';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';
import { eventually, mapLimit, serviceEnv, sleep, startApi, startInProcessWorker, type FaultApi, type InProcessWorker } from '../helpers/services';

/**
 * Issue #13 item 1: the service, unchanged, against the real Temporal server run as separate
 * processes (frontend, matching, two history hosts, worker) on PostgreSQL, with membership between
 * them: complete add and change flows over HTTP with mail read from the SMTP capture, then a
 * history host SIGKILLed under load and started again.
 */

let cluster: TemporalCluster;
let smtp: SmtpCapture;
let api: FaultApi;
let worker: InProcessWorker;
let http: ApiClient;

beforeAll(async () => {
  cluster = await startTemporalCluster({ databaseUrl: process.env.DATABASE_URL, dir: path.join(inject('tempDir'), 'cluster') });
  await migrate(cluster.databaseUrl, createLogger('warn', { service: 'cluster-test' }));
  smtp = await startSmtpCapture({ maxMessages: 10_000 });
  const env = serviceEnv({ temporalAddress: cluster.address, databaseUrl: cluster.databaseUrl, smtpUrl: smtp.url, port: await freePort() });
  worker = await startInProcessWorker(env);
  api = await startApi(env);
  http = apiClient(api.baseUrl);
});

afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await smtp?.stop();
  await cluster?.stop();
});

/** A call that a moving history shard may answer with 5xx for a while: retried until it is not 5xx. */
async function until2xx(what: string, call: () => Promise<{ status: number; text: string }>) {
  return eventually(async () => {
    const res = await call();
    if (res.status >= 500) throw new Error(`${res.status} ${res.text}`);
    return res;
  }, 90_000, what, 500);
}

/** Sign up, add an address, confirm it from the mail; resolves with the time it took. */
async function addFlow(tag: string): Promise<{ user: TestUser; ms: number }> {
  const user = await signedInUser(http);
  const email = uniqueEmail(tag);
  const started = Date.now();
  const start = await until2xx('start', () =>
    http.post('/v1/email/change', { token: user.token, json: { email, auth: { method: 'password', password: user.password } } }),
  );
  expect(start.status, start.text).toBe(202);
  const token = await tokenFromMail(smtp, email);
  const verified = await until2xx('verify', () => http.post('/v1/email/verify', { json: { token } }));
  expect(verified.status, verified.text).toBe(200);
  await waitForStatus(http, user, (body) => body.change?.state === 'APPROVED', 90_000);
  return { user, ms: Date.now() - started };
}

const percentile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil(values.length * q) - 1)]!;

describe('the service on a real multi-process Temporal cluster', () => {
  it('runs as separate processes: frontend, matching, 2 history hosts, worker', () => {
    expect(cluster.processes.map((p) => p.name)).toEqual(['frontend', 'matching', 'history-1', 'history-2', 'worker']);
    expect(new Set(cluster.processes.map((p) => p.pid())).size).toBe(5);
  });

  it('an add, then a change confirmed by the new and the old address, over HTTP', async () => {
    const { user } = await addFlow('cluster-add');
    const oldEmail = (await http.get('/v1/me', { token: user.token })).body.email as string;
    const newEmail = uniqueEmail('cluster-change');
    await startChange(http, user, newEmail);
    await http.post('/v1/email/verify', { json: { token: await tokenFromMail(smtp, newEmail) } });
    const done = await http.post('/v1/email/verify', { json: { token: await tokenFromMail(smtp, oldEmail, 1) } });
    expect(done.status, done.text).toBe(200);
    await waitForStatus(http, user, (body) => body.change?.state === 'APPROVED');
    expect((await http.get('/v1/me', { token: user.token })).body).toMatchObject({ email: newEmail, emailVerified: true, previousEmails: [expect.objectContaining({ email: oldEmail })] });

    // The search attributes work on the SQL visibility store.
    const runs = await eventually(async () => {
      const found = [];
      for await (const run of api.temporal.workflow.list({ query: `EmailChangeUserId = "${user.id}" AND EmailChangeState = "APPROVED"` })) found.push(run);
      return found.length === 2 ? found : undefined;
    }, 30_000, 'both runs in visibility');
    expect(runs).toHaveLength(2);
  });

  it("a run terminated by an operator has its row closed by the API's watch on the SQL visibility store, with no read", async () => {
    const user = await signedInUser(http);
    const change = await startChange(http, user, uniqueEmail('cluster-terminated'));
    await api.temporal.workflow.getHandle(workflowIdFor(user.id)).terminate('stuck, from the UI');
    const state = async () => (await api.pool.query<{ state: string }>('SELECT state FROM email_change_requests WHERE id = $1', [change.id])).rows[0]?.state;
    expect(await eventually(async () => ((await state()) === 'CANCELLED' ? 'CANCELLED' : undefined), 15_000, 'the row closed by the watch')).toBe('CANCELLED');
  });

  it('completes concurrent flows (figures printed)', async () => {
    const FLOWS = 40;
    const started = Date.now();
    const results = await mapLimit(Array.from({ length: FLOWS }, (_, i) => i), 8, (i) => addFlow(`load${i}`));
    const seconds = (Date.now() - started) / 1000;
    const latencies = results.map((r) => r.ms);
    console.log(`cluster: ${FLOWS} add flows (8 at a time) in ${seconds.toFixed(1)} s = ${(FLOWS / seconds).toFixed(2)} flows/s; p50 ${percentile(latencies, 0.5)} ms, p99 ${percentile(latencies, 0.99)} ms`);
    expect(results).toHaveLength(FLOWS);
  });

  it('a history host SIGKILLed mid-load and started again: every change still reaches a final state', async () => {
    const FLOWS = 40;
    const started = Date.now();
    const load = mapLimit(Array.from({ length: FLOWS }, (_, i) => i), 8, (i) => addFlow(`kill${i}`));
    await sleep(3_000);
    await cluster.kill('history-1');
    const killedAt = Date.now();
    await sleep(5_000);
    await cluster.restart('history-1');
    const results = await load;
    const seconds = (Date.now() - started) / 1000;
    const latencies = results.map((r) => r.ms);
    console.log(`cluster with history-1 killed at +${((killedAt - started) / 1000).toFixed(1)} s and back 5 s later: ${FLOWS} flows in ${seconds.toFixed(1)} s, p99 ${percentile(latencies, 0.99)} ms, max ${Math.max(...latencies)} ms`);
    for (const { user } of results) {
      expect((await http.get('/v1/me', { token: user.token })).body.emailVerified).toBe(true);
    }
  });
});
