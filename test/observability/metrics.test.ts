import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pino from 'pino';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { closeServer, createTemporalClient, listen } from '../../src/api/server';
import { createPool } from '../../src/db/pool';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { createMailTransport, type MailTransport } from '../../src/mail/transport';
import { createWorker } from '../../src/worker';
import { installTemporalRuntime } from '../../src/temporal-runtime';
import { startWorkerHealth, type WorkerHealth } from '../../src/observability/worker-health';
import { temporalConnectionOptions } from '../../src/temporal-connection';
import { serviceEnv, eventually } from '../helpers/services';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';

/**
 * Issue #13 item 5 over HTTP: the API's and the worker's /metrics after real flows, the worker's
 * readiness, and the logs (captured as JSON lines) with no address, token or password anywhere.
 */

const lines: string[] = [];
const log = pino({ level: 'info', base: { service: 'observability-test' } }, { write: (line: string) => void lines.push(line) });
const METRICS_TOKEN = randomBytes(32).toString('base64url');

let config: Config;
let smtp: SmtpCapture;
let pool: pg.Pool;
let temporal: Client;
let server: http.Server;
let api: ApiClient;
let baseUrl: string;
let connection: NativeConnection;
let mail: MailTransport;
let worker: Worker;
let running: Promise<void>;
let health: WorkerHealth;
let sdkMetricsAddress: string;
let stateBeforeRun: { status: number; body: unknown };
const secrets: string[] = [];

async function text(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.text() };
}
const apiMetrics = async () => (await text(`${baseUrl}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` })).body;
const workerMetrics = async () => (await text(`http://127.0.0.1:${health.port}/metrics`)).body;
/** The value of one sample line, e.g. `email_change_mails_total{kind="verification",result="sent"}`. */
function sample(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = exposition.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.slice(0, l.indexOf('}')).includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

beforeAll(async () => {
  // This test file's process installs the runtime exactly as the worker's run() does, SDK metrics on.
  sdkMetricsAddress = `127.0.0.1:${await freePort()}`;
  installTemporalRuntime(log, { sdkMetricsAddress });
  smtp = await startSmtpCapture();
  const port = await freePort();
  config = loadConfig({
    ...serviceEnv({ smtpUrl: smtp.url, port }),
    LOG_LEVEL: 'info',
    METRICS_AUTH_TOKEN: METRICS_TOKEN,
    AUTH_MAX_FAILURES: '2',
    LIMIT_AVAILABILITY_PER_USER: '1/1m',
  });
  pool = createPool(config.databaseUrl!, config.databasePoolSize, log);
  temporal = createTemporalClient(temporalConnectionOptions(config), config.temporal.namespace, config.payloadKeys);
  server = await listen({ config, pool, temporal, log }, port, '127.0.0.1');
  baseUrl = `http://127.0.0.1:${port}`;
  api = apiClient(baseUrl);
  connection = await NativeConnection.connect(temporalConnectionOptions(config));
  mail = createMailTransport(config.smtpUrl!, { allowInsecure: config.smtpAllowInsecure });
  worker = await createWorker(connection, { config, pool, mail, log }, { workflowBundle: { codePath: inject('workflowBundlePath') } });
  health = await startWorkerHealth({ port: 0, host: '127.0.0.1', worker, sdkMetricsAddress });
  const before = await fetch(`http://127.0.0.1:${health.port}/readyz`);
  stateBeforeRun = { status: before.status, body: await before.json() };
  running = worker.run();
});

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running?.catch(() => undefined);
  await health?.close();
  if (server) await closeServer(server);
  await temporal?.connection.close().catch(() => undefined);
  mail?.close();
  await connection?.close().catch(() => undefined);
  await pool?.end().catch(() => undefined);
  await smtp?.stop();
});

describe('worker readiness (WORKER_HEALTH_PORT)', () => {
  it('says 503 before the worker runs and 200 once it polls; /healthz is 200 throughout', async () => {
    expect(stateBeforeRun).toEqual({ status: 503, body: { status: 'not ready', worker: 'INITIALIZED' } });
    const ready = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${health.port}/readyz`);
      return res.status === 200 ? res.json() : undefined;
    }, 10_000, 'worker ready');
    expect(ready).toEqual({ status: 'ready', worker: 'RUNNING' });
    expect((await text(`http://127.0.0.1:${health.port}/healthz`)).status).toBe(200);
  });
});

describe('metrics after real flows', () => {
  it('the API counts requests by route template, starts, confirmations, re-auth refusals, locks and rate limits', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('metrics');
    secrets.push(email, user.token, user.password, user.username);
    await startChange(api, user, email);
    const token = await tokenFromMail(smtp, email);
    secrets.push(token);
    expect((await api.post('/v1/email/verify', { json: { token } })).body.state).toBe('APPROVED');

    // AUTH_MAX_FAILURES=2: the first wrong password is refused, the second locks, on a user of its own.
    const locked = await signedInUser(api);
    secrets.push(locked.token, locked.username);
    const wrong = { email: uniqueEmail('locked'), auth: { method: 'password', password: 'not the password' } };
    secrets.push(wrong.email);
    expect((await api.post('/v1/email/change', { token: locked.token, json: wrong })).status).toBe(403);
    expect((await api.post('/v1/email/change', { token: locked.token, json: wrong })).status).toBe(423);
    expect((await api.post('/v1/email/change', { token: locked.token, json: wrong })).status).toBe(423);
    // LIMIT_AVAILABILITY_PER_USER=1/1m: the second check is refused.
    const probe = uniqueEmail('probe');
    secrets.push(probe);
    expect((await api.get(`/v1/email/availability?email=${encodeURIComponent(probe)}`, { token: user.token })).status).toBe(200);
    expect((await api.get(`/v1/email/availability?email=${encodeURIComponent(probe)}`, { token: user.token })).status).toBe(429);

    expect((await text(`${baseUrl}/metrics`)).status).toBe(401);
    expect((await text(`${baseUrl}/metrics`, { authorization: 'Bearer wrong' })).status).toBe(401);
    const metrics = await apiMetrics();
    expect(sample(metrics, 'http_requests_total', { method: 'POST', route: '/v1/email/change', status: '202' })).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'http_requests_total', { method: 'POST', route: '/v1/email/verify', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'http_requests_total', { method: 'GET', route: '/v1/email/availability', status: '429' })).toBe(1);
    expect(sample(metrics, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/sessions' })).toBeGreaterThanOrEqual(2);
    expect(sample(metrics, 'email_change_actions_total', { action: 'start', outcome: 'REQUESTED' })).toBe(1);
    expect(sample(metrics, 'email_change_actions_total', { action: 'start', outcome: 'REAUTH_FAILED' })).toBe(1);
    expect(sample(metrics, 'email_change_actions_total', { action: 'start', outcome: 'LOCKED' })).toBe(2);
    expect(sample(metrics, 'email_change_actions_total', { action: 'verify', outcome: 'APPROVED' })).toBe(1);
    expect(sample(metrics, 'email_change_reauth_refusals_total', { code: 'REAUTH_FAILED' })).toBe(1);
    expect(sample(metrics, 'email_change_reauth_refusals_total', { code: 'LOCKED' })).toBe(2);
    expect(sample(metrics, 'email_change_rate_limited_total', { route: '/v1/email/availability' })).toBe(1);
    // Paths with ids or tokens never become labels: unknown paths are one label.
    const unknown = randomBytes(12).toString('hex');
    await api.get(`/nowhere/${unknown}`, { contract: false });
    const after = await apiMetrics();
    expect(sample(after, 'http_requests_total', { route: '(unmatched)', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(after).not.toContain(unknown);
  });

  it('the worker counts mail deliveries by permanence, activity outcomes and state changes, with the SDK metrics alongside', async () => {
    // A change that is cancelled, and one whose verification mail is refused permanently (550).
    const cancelled = await signedInUser(api);
    const email = uniqueEmail('cancelled');
    secrets.push(email, cancelled.token);
    await startChange(api, cancelled, email);
    await smtp.waitForMessage(email);
    expect((await api.delete('/v1/email/change', { token: cancelled.token })).body.change.state).toBe('CANCELLED');

    const refused = await signedInUser(api);
    const refusedEmail = uniqueEmail('refused');
    secrets.push(refusedEmail, refused.token);
    smtp.failNext(1, 550, 'mailbox unavailable');
    await startChange(api, refused, refusedEmail);
    await waitForStatus(api, refused, (b) => JSON.stringify(b.change?.delivery ?? {}).includes('failed'));

    const metrics = await eventually(async () => {
      const m = await workerMetrics();
      return (sample(m, 'email_change_state_changes_total', { state: 'CANCELLED' }) ?? 0) >= 1 ? m : undefined;
    }, 10_000, 'CANCELLED counted');
    expect(sample(metrics, 'email_change_mails_total', { kind: 'verification', result: 'sent' })).toBeGreaterThanOrEqual(2);
    expect(sample(metrics, 'email_change_mails_total', { kind: 'verification', result: 'failed_permanent' })).toBe(1);
    expect(sample(metrics, 'email_change_state_changes_total', { state: 'REQUESTED' })).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'email_change_state_changes_total', { state: 'APPROVED' })).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'email_change_activity_attempts_total', { activity: 'startRequest', outcome: 'completed' })).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'email_change_activity_attempts_total', { activity: 'sendVerificationMail', outcome: 'failed_permanent' })).toBe(1);
    // The Temporal SDK's own metrics (native runtime's Prometheus exporter), served on the same port.
    expect(metrics).toMatch(/^temporal_\w+/m);
    expect(metrics).toMatch(/temporal_\w*activity\w*\{[^}]*task_queue="test-/);
  });

  it('one JSON log line per state change, with change id and user id; no address, token or password in any log line or metric', async () => {
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const states = records.filter((r) => r.event === 'email_change.state');
    expect(states.map((r) => r.state)).toEqual(expect.arrayContaining(['REQUESTED', 'APPROVED', 'CANCELLED']));
    for (const r of states) {
      expect(r.changeId).toMatch(/^[\w-]{8,}$/);
      expect(r.userId).toMatch(/^[\w-]{8,}$/);
      expect(Object.keys(r).sort()).toEqual(expect.arrayContaining(['changeId', 'userId', 'state']));
    }
    const everything = [lines.join('\n'), await apiMetrics(), await workerMetrics()].join('\n');
    for (const secret of secrets) expect(everything.includes(secret), `"${secret.slice(0, 12)}…" leaked`).toBe(false);
    expect(everything).not.toContain('@example.com');
  });
});

describe('worker readiness after shutdown', () => {
  it('says 503 once the worker stops polling', async () => {
    worker.shutdown();
    await running;
    const res = await fetch(`http://127.0.0.1:${health.port}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not ready', worker: 'STOPPED' });
  });
});
