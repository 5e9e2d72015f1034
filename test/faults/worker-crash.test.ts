import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { hasVerifyLink, linkIn, startChange, tokenOf } from '../helpers/flow';
import { eventually, serviceEnv, sleep, spawnWorker, startApi, startExtraApi, type ChildWorker, type FaultApi } from '../helpers/services';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';

/**
 * Issue 6, case 1: the worker process is SIGKILLed while one request's verification mail is in the
 * middle of its SMTP transaction and while two other requests wait on their durable timers (one of
 * which fires while no worker runs). A new worker process picks everything up: every request
 * completes and every link is mailed exactly once.
 */

let smtp: SmtpCapture;
let env: Record<string, string>;
let long: FaultApi;
let short: FaultApi;
let apiLong: ApiClient;
let apiShort: ApiClient;
const workers: ChildWorker[] = [];

beforeAll(async () => {
  smtp = await startSmtpCapture();
  env = serviceEnv({ smtpUrl: smtp.url, port: await freePort(), env: { EMAIL_CHANGE_TTL: '10m' } });
  long = await startApi(env);
  // Same task queue and worker; requests started here expire 8 s after they start.
  short = await startExtraApi(env, { EMAIL_CHANGE_TTL: '8s' });
  apiLong = apiClient(long.baseUrl);
  apiShort = apiClient(short.baseUrl);
});

afterAll(async () => {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGTERM');
      await Promise.race([w.exited, sleep(15_000)]);
      await w.kill();
    }
  }
  await Promise.all([long?.stop(), short?.stop()]);
  await smtp?.stop();
});


const requestRow = async (changeId: string) =>
  (await long.pool.query('SELECT state, expires_at AS "expiresAt", completed_at AS "completedAt" FROM email_change_requests WHERE id = $1', [changeId])).rows[0];

describe('worker killed (SIGKILL)', () => {
  it('mid-send and while timers wait → a new worker completes every request; one mail per link', { timeout: 180_000 }, async () => {
    const w1 = spawnWorker(env);
    workers.push(w1);
    await w1.ready;

    // A: waits on its 10 min timer, confirmed after the crash.
    const a = await signedInUser(apiLong);
    const emailA = uniqueEmail('crash-a');
    const changeA = await startChange(apiLong, a, emailA);
    // B: its 8 s timer fires while no worker runs.
    const b = await signedInUser(apiShort);
    const emailB = uniqueEmail('crash-b');
    const changeB = await startChange(apiShort, b, emailB);
    const [mailA, mailB] = await Promise.all([smtp.waitForMessage(emailA), smtp.waitForMessage(emailB)]);

    // C: its mail is fully transmitted, the worker waits for the server's answer — and dies.
    const c = await signedInUser(apiLong);
    const emailC = uniqueEmail('crash-c');
    const held = smtp.holdMailTo(emailC);
    const changeC = await startChange(apiLong, c, emailC);
    expect((await held).size).toBeGreaterThan(100);
    expect(await w1.kill()).toBe('SIGKILL');
    const killedAt = Date.now();
    smtp.stopHolding(emailC);
    await eventually(async () => (smtp.dropped() === 1 ? true : undefined), 5_000, 'the held SMTP transaction is dropped');
    expect(smtp.messagesTo(emailC)).toHaveLength(0);
    expect((await long.pool.query('SELECT status FROM mail_messages WHERE change_id = $1', [changeC.id])).rows).toEqual([{ status: 'sending' }]);

    // B's deadline passes with no worker: the timer fires on the server, nothing can act on it yet.
    const deadlineB = new Date(changeB.expiresAt).getTime();
    await sleep(Math.max(0, deadlineB - Date.now() + 1_500));
    expect((await requestRow(changeB.id)).state).toBe('REQUESTED');

    const w2 = spawnWorker(env);
    workers.push(w2);
    await w2.ready;
    const restartedAt = Date.now();

    // A: the person's confirmation reaches the new worker, which applies the change.
    const confirmA = await apiLong.post('/v1/email/verify', { json: { token: tokenOf(linkIn(mailA)) } });
    expect(confirmA.status, confirmA.text).toBe(200);
    expect(confirmA.body).toMatchObject({ id: changeA.id, state: 'APPROVED', alreadyConfirmed: false });
    expect((await apiLong.get('/v1/me', { token: a.token })).body).toMatchObject({ email: emailA, emailVerified: true });

    // B: expired by the new worker, soon after it started.
    const rowB = await eventually(async () => {
      const row = await requestRow(changeB.id);
      return row.state === 'EXPIRED' ? row : undefined;
    }, 30_000, 'B expires');
    expect(rowB.completedAt.getTime()).toBeLessThan(restartedAt + 20_000);
    const linkB = await apiShort.post('/v1/email/verify', { json: { token: tokenOf(linkIn(mailB)) } });
    expect(linkB.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'expired' } });

    // C: the lost send times out (startToCloseTimeout 1 min, no heartbeat) and the workflow sends again.
    const mailC = await smtp.waitForMessage(emailC, { timeoutMs: 120_000 });
    console.log(`[faults] worker crash: C's mail went out ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the SIGKILL (B expired ${((rowB.completedAt.getTime() - deadlineB) / 1000).toFixed(1)} s after its deadline)`);
    const confirmC = await apiLong.post('/v1/email/verify', { json: { token: tokenOf(linkIn(mailC)) } });
    expect(confirmC.status, confirmC.text).toBe(200);
    expect(confirmC.body).toMatchObject({ id: changeC.id, state: 'APPROVED' });
    const statusC = (await apiLong.get('/v1/email/change', { token: c.token })).body.change;
    expect(statusC).toMatchObject({ id: changeC.id, state: 'APPROVED' });
    expect(statusC.delivery.new).toMatchObject({ status: 'sent', attempts: 2 });

    // Exactly one mail per link, each with its own Message-ID; PostgreSQL agrees.
    // (B's lapsed notice, issue #15, carries no link.)
    for (const email of [emailA, emailB, emailC]) expect(smtp.messagesTo(email).filter(hasVerifyLink), email).toHaveLength(1);
    expect(new Set([mailA, mailB, mailC].map((m) => m.messageId)).size).toBe(3);
    const sent = await long.pool.query<{ changeId: string; status: string; attempts: number }>(
      `SELECT change_id AS "changeId", status, attempts FROM mail_messages WHERE change_id = ANY($1::uuid[]) AND kind LIKE 'verify-%' ORDER BY array_position($1::uuid[], change_id)`,
      [[changeA.id, changeB.id, changeC.id]],
    );
    expect(sent.rows).toEqual([
      { changeId: changeA.id, status: 'sent', attempts: 1 },
      { changeId: changeB.id, status: 'sent', attempts: 1 },
      { changeId: changeC.id, status: 'sent', attempts: 2 },
    ]);
  });
});
