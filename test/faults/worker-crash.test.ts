import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { hasVerifyLink, linkIn, startChange, tokenOf } from '../helpers/flow';
import { eventually, serviceEnv, sleep, spawnWorker, startApi, startExtraApi, type ChildWorker, type FaultApi } from '../helpers/services';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';

/**
 * Issue 6, case 1: the worker process is SIGKILLed while one request's verification mail is in the
 * middle of its SMTP transaction and while two other requests wait on their durable timers (one of
 * which fires while no worker runs), and while two others' mails were accepted by the relay but not
 * yet recorded. A new worker process picks everything up: every request completes and every link is
 * mailed once per Message-ID (a send in doubt goes again under the same one, and is counted).
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

    // D and E: the relay accepted their mails, and the worker dies before PostgreSQL records the sends (the
    // test holds their rows until then): both sends are in doubt, as SMTP cannot be asked what it took.
    const [d, e] = await Promise.all([signedInUser(apiLong), signedInUser(apiLong)]);
    const [emailD, emailE] = [uniqueEmail('crash-d'), uniqueEmail('crash-e')];
    for (const email of [emailD, emailE]) smtp.delayMailTo(email, 1_500);
    const [changeD, changeE] = await Promise.all([startChange(apiLong, d, emailD), startChange(apiLong, e, emailE)]);
    const [firstD, mailE] = await Promise.all([smtp.waitForMessage(emailD), smtp.waitForMessage(emailE)]);
    const rowLock = await long.pool.connect();
    await rowLock.query('BEGIN');
    await rowLock.query('SELECT 1 FROM mail_messages WHERE change_id = ANY($1::uuid[]) FOR UPDATE', [[changeD.id, changeE.id]]);
    const lockPid = (await rowLock.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await eventually(
      async () => ((await long.pool.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [lockPid])).rowCount === 2 ? true : undefined),
      15_000,
      "D's and E's sends wait to be recorded",
    );

    // C: its mail is fully transmitted, the worker waits for the server's answer — and dies.
    const c = await signedInUser(apiLong);
    const emailC = uniqueEmail('crash-c');
    const held = smtp.holdMailTo(emailC);
    const changeC = await startChange(apiLong, c, emailC);
    expect((await held).size).toBeGreaterThan(100);
    expect(await w1.kill()).toBe('SIGKILL');
    const killedAt = Date.now();
    // The dead worker's updates never reach PostgreSQL (its waiting statements would still run once the rows are free).
    await rowLock.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [lockPid]);
    await rowLock.query('ROLLBACK');
    rowLock.release();
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

    // E: the person clicks the link that arrived: the change applies, and the send counts as delivered (nothing sent again).
    const confirmE = await apiLong.post('/v1/email/verify', { json: { token: tokenOf(linkIn(mailE)) } });
    expect(confirmE.status, confirmE.text).toBe(200);
    expect(confirmE.body).toMatchObject({ id: changeE.id, state: 'APPROVED' });

    // C: the lost send times out (startToCloseTimeout 1 min, no heartbeat) and the workflow sends again.
    const mailC = await smtp.waitForMessage(emailC, { timeoutMs: 120_000 });
    console.log(`[faults] worker crash: C's mail went out ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the SIGKILL (B expired ${((rowB.completedAt.getTime() - deadlineB) / 1000).toFixed(1)} s after its deadline)`);
    const confirmC = await apiLong.post('/v1/email/verify', { json: { token: tokenOf(linkIn(mailC)) } });
    expect(confirmC.status, confirmC.text).toBe(200);
    expect(confirmC.body).toMatchObject({ id: changeC.id, state: 'APPROVED' });
    const statusC = (await apiLong.get('/v1/email/change', { token: c.token })).body.change;
    expect(statusC).toMatchObject({ id: changeC.id, state: 'APPROVED' });
    expect(statusC.delivery.new).toMatchObject({ status: 'sent', attempts: 2 });

    // D: its send in doubt went again, with the same Message-ID (a mailbox shows one), and the row says so.
    await eventually(async () => (smtp.messagesTo(emailD).length === 2 ? true : undefined), 60_000, "D's mail is sent again");
    expect(smtp.messagesTo(emailD).map((m) => m.messageId)).toEqual([firstD.messageId, firstD.messageId]);
    const confirmD = await apiLong.post('/v1/email/verify', { json: { token: tokenOf(linkIn(firstD)) } });
    expect(confirmD.body).toMatchObject({ id: changeD.id, state: 'APPROVED' });

    // Exactly one mail per link, each with its own Message-ID (D's twice under its one); PostgreSQL agrees.
    // (B's lapsed notice, issue #15, carries no link.)
    for (const email of [emailA, emailB, emailC, emailE]) expect(smtp.messagesTo(email).filter(hasVerifyLink), email).toHaveLength(1);
    expect(new Set([mailA, mailB, mailC, firstD, mailE].map((m) => m.messageId)).size).toBe(5);
    const sent = await long.pool.query<{ changeId: string; status: string; attempts: number; inDoubt: number }>(
      `SELECT change_id AS "changeId", status, attempts, resent_in_doubt AS "inDoubt" FROM mail_messages
       WHERE change_id = ANY($1::uuid[]) AND kind LIKE 'verify-%' ORDER BY array_position($1::uuid[], change_id)`,
      [[changeA.id, changeB.id, changeC.id, changeD.id, changeE.id]],
    );
    expect(sent.rows).toEqual([
      { changeId: changeA.id, status: 'sent', attempts: 1, inDoubt: 0 },
      { changeId: changeB.id, status: 'sent', attempts: 1, inDoubt: 0 },
      // C's first attempt died mid-send too; the relay had not answered, so it dropped that copy.
      { changeId: changeC.id, status: 'sent', attempts: 2, inDoubt: 1 },
      { changeId: changeD.id, status: 'sent', attempts: 2, inDoubt: 1 },
      // E's link was used, which proves its mail arrived: recorded sent, never sent again.
      { changeId: changeE.id, status: 'sent', attempts: 1, inDoubt: 0 },
    ]);
  });
});
