import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { startTemporalDevServer, type DevServerOptions, type TemporalDevServer } from '../../src/dev/temporal';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { hasVerifyLink, startChange, tokenFromMail } from '../helpers/flow';
import {
  eventually,
  serviceEnv,
  mapLimit,
  sleep,
  startApi,
  startExtraApi,
  startInProcessWorker,
  type FaultApi,
  type InProcessWorker,
} from '../helpers/services';

/**
 * Issue 6, case 2: a file-backed Temporal dev server of this test's own is restarted three times
 * (stopped, left down, started again on the same port with the same SQLite file) while 200
 * requests are pending. Half of them have a short EMAIL_CHANGE_TTL whose deadlines fall inside
 * the restart window, some while the server is down: each still expires, within seconds of its
 * deadline once the time the server was down is set aside. The other half are confirmed over HTTP afterwards and all
 * complete. Every link was mailed exactly once.
 */

const PENDING = 200;
const RESTARTS = 3;
const DOWN_MS = 4_000;
const UP_MS = 6_000;
const SHORT_TTL = '40s';
/**
 * How late a request may end after its deadline, not counting the time the server was down since:
 * the worker's pollers back off while the server is away and its timers are processed in a burst
 * when it returns (measured 2.0–10.1 s on the 2-core CI machine with two other test files running;
 * the worst is printed). Beyond this a timer counts as lost, not late.
 */
const SLACK_MS = 20_000;

let temporal: TemporalDevServer;
let serverOptions: DevServerOptions;
let smtp: SmtpCapture;
let longApi: FaultApi;
let shortApi: FaultApi;
let worker: InProcessWorker;

beforeAll(async () => {
  serverOptions = {
    cliPath: process.env.TEMPORAL_CLI_PATH,
    dbFile: path.join(inject('tempDir'), `temporal-restart-${randomUUID()}.db`),
    port: await freePort(),
  };
  temporal = await startTemporalDevServer(serverOptions);
  smtp = await startSmtpCapture({ maxMessages: 10_000 });
  const env = serviceEnv({ temporalAddress: temporal.address, smtpUrl: smtp.url, port: await freePort(), env: { EMAIL_CHANGE_TTL: '10m', CONFIRM_OLD_EMAIL: 'false' } });
  longApi = await startApi(env);
  // Same task queue and worker; requests started here expire SHORT_TTL after they start.
  shortApi = await startExtraApi(env, { EMAIL_CHANGE_TTL: SHORT_TTL });
  worker = await startInProcessWorker(env);
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await Promise.all([longApi?.stop(), shortApi?.stop()]);
  await smtp?.stop();
  await temporal?.stop();
});

interface Pending {
  user: TestUser;
  email: string;
  changeId: string;
  expiresAt: number;
  short: boolean;
}

describe('Temporal dev server restarted while requests are pending', () => {
  it(`${RESTARTS} restarts with ${PENDING} pending: every timer fires, every request can be confirmed, one mail per link`, { timeout: 300_000 }, async () => {
    const long = apiClient(longApi.baseUrl);
    const short = apiClient(shortApi.baseUrl);
    const pending = await mapLimit(Array.from({ length: PENDING }, (_, i) => i % 2 === 1), 8, async (isShort): Promise<Pending> => {
      const api: ApiClient = isShort ? short : long;
      const user = await signedInUser(api);
      const email = uniqueEmail(isShort ? 'restart-short' : 'restart-long');
      const change = await startChange(api, user, email);
      return { user, email, changeId: change.id, expiresAt: new Date(change.expiresAt).getTime(), short: isShort };
    });
    // Every link is out before the first restart.
    const tokens = new Map(await mapLimit(pending, 20, async (p) => [p.changeId, await tokenFromMail(smtp, p.email)] as const));

    const downWindows: { downAt: number; upAt: number }[] = [];
    for (let i = 0; i < RESTARTS; i++) {
      await temporal.stop();
      const downAt = Date.now();
      await sleep(DOWN_MS);
      temporal = await startTemporalDevServer(serverOptions);
      downWindows.push({ downAt, upAt: Date.now() });
      await sleep(UP_MS);
    }

    // Short ones: each expires within SLACK_MS of its deadline, or of the restart that ended the outage it fell in.
    const shorts = pending.filter((p) => p.short);
    const firstDown = downWindows[0]!.downAt;
    expect(shorts.filter((p) => p.expiresAt > firstDown).length, 'some deadlines fall inside the restart window').toBeGreaterThan(0);
    const completed = await eventually(async () => {
      const { rows } = await longApi.pool.query<{ id: string; state: string; completedAt: Date | null }>(
        'SELECT id, state, completed_at AS "completedAt" FROM email_change_requests WHERE id = ANY($1)',
        [shorts.map((p) => p.changeId)],
      );
      return rows.every((r) => r.state !== 'REQUESTED') ? rows : undefined;
    }, 120_000, 'every short request ends', 500);
    let firedWhileDown = 0;
    let worstLateMs = 0;
    for (const p of shorts) {
      const row = completed.find((r) => r.id === p.changeId)!;
      expect(row.state, p.changeId).toBe('EXPIRED');
      const done = row.completedAt!.getTime();
      if (downWindows.some((w) => p.expiresAt >= w.downAt && p.expiresAt <= w.upAt)) firedWhileDown++;
      // Late by more than the time the server was down between the deadline and the outcome.
      const downMs = downWindows.reduce((sum, w) => sum + Math.max(0, Math.min(w.upAt, done) - Math.max(w.downAt, p.expiresAt)), 0);
      const late = done - p.expiresAt - downMs;
      worstLateMs = Math.max(worstLateMs, late);
      expect(late, `${p.changeId} expired ${late} ms after it was due`).toBeLessThan(SLACK_MS);
      expect(row.completedAt!.getTime()).toBeGreaterThanOrEqual(p.expiresAt);
    }

    // Long ones: each is still pending and the person's click completes it.
    const results = await mapLimit(pending.filter((p) => !p.short), 10, async (p) => {
      const res = await long.post('/v1/email/verify', { json: { token: tokens.get(p.changeId) } });
      return { p, res };
    });
    for (const { p, res } of results) {
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ id: p.changeId, state: 'APPROVED', alreadyConfirmed: false });
    }
    const approved = await longApi.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM email_change_requests r JOIN users u ON u.id = r.user_id WHERE r.id = ANY($1) AND r.state = 'APPROVED' AND u.email_verified AND u.email = r.new_email",
      [results.map((r) => r.p.changeId)],
    );
    expect(approved.rows[0]!.n).toBe(PENDING / 2);

    // One mail per link, even though every workflow was replayed after each restart (an expired request's
    // lapsed notice, issue #15, carries no link).
    await sleep(1_000);
    for (const p of pending) expect(smtp.messagesTo(p.email).filter(hasVerifyLink), p.email).toHaveLength(1);
    console.log(
      `[faults] Temporal restarted ${RESTARTS}× with ${PENDING} pending: ${shorts.length} timers fired (${firedWhileDown} were due while the server was down), latest ${(worstLateMs / 1000).toFixed(1)} s after its deadline plus downtime; ${results.length} confirmed after the restarts`,
    );
  });
});
