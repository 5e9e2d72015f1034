import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/log';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail } from '../helpers/flow';
import { eventually, serviceEnv, sleep, spawnWorker, startApi, type ChildWorker, type FaultApi } from '../helpers/services';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/dev/postgres';

/**
 * Issue 6, case 3: PostgreSQL goes away while applyEmailChange is running (its transaction is
 * waiting on a row lock when the server shuts down) and stays away OUTAGE_MS (30 s). Meanwhile the API
 * answers 503 UNAVAILABLE with Retry-After and /readyz says not ready; the activity retries and
 * completes once the server is back on the same port with the same data, and nothing is ever
 * half-applied.
 */

const OUTAGE_MS = 30_000;

let postgres: EmbeddedPostgresHandle;
let smtp: SmtpCapture;
let api: FaultApi;
let worker: ChildWorker;
let http: ApiClient;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres(path.join(inject('tempDir'), `pg-outage-${randomUUID()}`));
  await migrate(postgres.localUrl, createLogger('silent'));
  smtp = await startSmtpCapture();
  // One link per change, so one confirmation applies it.
  const env = serviceEnv({ databaseUrl: postgres.localUrl, smtpUrl: smtp.url, port: await freePort(), env: { CONFIRM_OLD_EMAIL: 'false' } });
  // The worker as its own process, as in production: if it dies, nothing completes the change.
  worker = spawnWorker(env);
  await worker.ready;
  api = await startApi(env);
  http = apiClient(api.baseUrl);
}, 120_000);

afterAll(async () => {
  await postgres?.start().catch(() => undefined);
  await api?.stop();
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.child.kill('SIGTERM');
    await Promise.race([worker.exited, sleep(15_000)]);
    await worker.kill();
  }
  await smtp?.stop();
  await postgres?.stop();
});

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: postgres.localUrl });
  c.on('error', () => undefined); // the outage cuts this connection too
  await c.connect();
  return c;
}

interface Snapshot {
  state: string;
  email: string;
  verified: boolean;
  history: number;
}

async function snapshot(db: pg.Client, userId: string, changeId: string): Promise<Snapshot> {
  const { rows } = await db.query(
    `SELECT r.state, u.email, u.email_verified AS verified,
       (SELECT count(*)::int FROM email_history h WHERE h.change_request_id = r.id) AS history
     FROM email_change_requests r JOIN users u ON u.id = r.user_id WHERE r.id = $1 AND u.id = $2`,
    [changeId, userId],
  );
  return rows[0];
}

describe('PostgreSQL unavailable while the change is applied', () => {
  it(`503 + Retry-After and /readyz not ready during a ${OUTAGE_MS / 1000} s outage; the apply retries and completes once; never half-applied`, { timeout: 150_000 }, async () => {
    const user = await signedInUser(http);
    const oldEmail = uniqueEmail('pg-old');
    await startChange(http, user, oldEmail);
    expect((await http.post('/v1/email/verify', { json: { token: await tokenFromMail(smtp, oldEmail) } })).body.state).toBe('APPROVED');
    const newEmail = uniqueEmail('pg-new');
    const change = await startChange(http, user, newEmail);
    const token = await tokenFromMail(smtp, newEmail);

    // Hold the request's row so applyEmailChange is caught inside its transaction.
    const locker = await client();
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM email_change_requests WHERE id = $1 FOR UPDATE', [change.id]);
    const confirming = http.post('/v1/email/verify', { json: { token } });
    const watcher = await client();
    await eventually(async () => {
      const { rows } = await watcher.query(
        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM email_change_requests WHERE id = $1 FOR UPDATE%' AND pid <> pg_backend_pid()",
      );
      return rows.length > 0 ? true : undefined;
    }, 20_000, 'applyEmailChange waits on the row lock');
    await watcher.end();

    // The server goes down with the apply in flight.
    await postgres.stop();
    const downAt = Date.now();

    const ready = await http.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(ready.body).toMatchObject({ status: 'not ready', checks: { postgres: { ok: false }, temporal: { ok: true } } });
    const during = [
      await http.get('/v1/me', { token: user.token }),
      await http.get('/v1/email/change', { token: user.token }),
      await http.post('/v1/sessions', { json: { username: user.username, password: user.password } }),
      await http.post('/v1/users', { json: { username: `pg_${Date.now()}`, password: 'correct horse battery' } }),
      await http.post('/v1/email/change', { token: user.token, json: { email: uniqueEmail('pg-during'), auth: { method: 'password', password: user.password } } }),
      await http.post('/v1/email/verify', { json: { token } }),
      await http.get(`/v1/email/availability?email=${encodeURIComponent(uniqueEmail('pg-avail'))}`, { token: user.token }),
    ];
    for (const res of during) {
      expect(res.status, res.text).toBe(503);
      expect(res.body.error.code).toBe('UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBe('5');
    }
    const page = await fetch(`${api.baseUrl}/verify-email?token=${token}`);
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('5');

    await sleep(Math.max(0, downAt + OUTAGE_MS - Date.now()));
    await postgres.start();
    const upAt = Date.now();
    // The worker process lived through the outage.
    expect(worker.child.exitCode, `the worker process exited during the outage:\n${worker.output().slice(-3000)}`).toBeNull();
    expect(worker.child.signalCode).toBeNull();

    // Whatever moment we look at, the change is all there or not at all.
    const db = await client();
    const consistent = (s: Snapshot) =>
      (s.state === 'REQUESTED' && s.email === oldEmail && s.history === 0) || (s.state === 'APPROVED' && s.email === newEmail && s.history === 1);
    const first = await snapshot(db, user.id, change.id);
    expect(consistent(first), JSON.stringify(first)).toBe(true);
    expect(first.verified).toBe(true);

    const done = await eventually(async () => {
      const s = await snapshot(db, user.id, change.id);
      expect(consistent(s), JSON.stringify(s)).toBe(true);
      return s.state === 'APPROVED' ? s : undefined;
    }, 90_000, 'the change is applied after the outage', 250);
    console.log(`[faults] PostgreSQL outage ${((upAt - downAt) / 1000).toFixed(1)} s: applied ${((Date.now() - upAt) / 1000).toFixed(1)} s after the server was back`);
    expect(done).toEqual({ state: 'APPROVED', email: newEmail, verified: true, history: 1 });

    // The click that was in flight during the outage got a retryable answer or the result; never a 500.
    const inFlight = await confirming;
    expect([200, 503], inFlight.text).toContain(inFlight.status);
    if (inFlight.status === 503) expect(inFlight.headers.get('retry-after')).toBe('5');

    // The apply took more than one try; the request and its notice are recorded once.
    const history = await api.temporal.workflow.getHandle(`email-change-${user.id}`).fetchHistory();
    // applyEmailChange is a local activity (issue #12): its marker, written by the SDK core in plain JSON, holds the attempt that succeeded.
    const applies = history.events!
      .map((e) => e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data)
      .filter((data): data is Uint8Array => data != null)
      .map((data) => JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string; attempt: number })
      .filter((marker) => marker.activity_type === 'applyEmailChange');
    expect(applies).toHaveLength(1);
    expect(applies[0]!.attempt).toBeGreaterThanOrEqual(2);

    const again = await http.post('/v1/email/verify', { json: { token } });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ id: change.id, state: 'APPROVED', alreadyConfirmed: true });
    expect((await http.get('/readyz')).status).toBe(200);
    expect((await http.get('/v1/me', { token: user.token })).body).toMatchObject({ email: newEmail, emailVerified: true, previousEmails: [{ email: oldEmail }] });
    await smtp.waitForMessage(oldEmail, { seen: 1 });
    await sleep(500);
    expect(smtp.messagesTo(oldEmail).map((m) => m.subject)).toEqual(['Confirm your email address', 'Your account email was changed']);
    await db.end();
    await locker.end().catch(() => undefined);
  });
});
