import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { startFreezableProxy } from '../helpers/processes';
import { spawnWorker, type ChildWorker } from '../helpers/services';

let stack: TestStack;
let api: ApiClient;
const children: ChildWorker[] = [];
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  for (const child of children) await child.kill();
  await stack?.stop();
});

describe('R-MAIL a retried send never mails twice', () => {
  it('the send succeeded, the worker died before reporting it: the retry finds the record and sends nothing', async () => {
    // The first worker reaches Temporal through a proxy that the test cuts the moment the mail lands.
    const proxy = await startFreezableProxy(stack.config.temporal.address!);
    const first = spawnWorker({ ...stack.env, TEMPORAL_ADDRESS: proxy.address });
    children.push(first);
    await first.ready;

    const user = await signedInUser(api);
    const email = uniqueEmail('once');
    await startChange(api, user, email);
    await stack.smtp.waitForMessage(email);
    proxy.freeze(); // the activity's completion can no longer reach Temporal

    // The worker records the send in PostgreSQL, then dies before Temporal hears of it.
    for (let i = 0; i < 100; i++) {
      const row = await stack.pool.query("SELECT status FROM mail_messages WHERE recipient = $1", [email]);
      if (row.rows[0]?.status === 'sent') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await first.kill();
    await proxy.stop();
    expect((await stack.pool.query('SELECT status, attempts FROM mail_messages WHERE recipient = $1', [email])).rows).toEqual([{ status: 'sent', attempts: 1 }]);

    // A new worker: Temporal times the lost attempt out (startToCloseTimeout 1m) and the workflow retries it.
    const second = spawnWorker(stack.env);
    children.push(second);
    await second.ready;
    // The status (read from mail_messages) says `sent` from the first try on; the retry counts as the second attempt.
    const status = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'sent' && b.change.delivery.new.attempts >= 2, 100_000);
    expect(status.change.delivery.new.attempts).toBe(2);
    expect((await stack.pool.query('SELECT attempts FROM mail_messages WHERE recipient = $1', [email])).rows[0].attempts).toBe(2);
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);

    const ok = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, email) } });
    expect(ok.body.state).toBe('APPROVED');
  }, 150_000);

  it("a change's two mails in one activity (issue #12's shape 4), one sent and the other stuck in SMTP: after the lost attempt each is retried alone, and each address gets one mail", async () => {
    for (const child of children) await child.kill(); // the worker that kills must be the only one polling
    const first = spawnWorker(stack.env);
    children.push(first);
    await first.ready;
    const { user, email: old } = await userWithVerifiedEmail(api, stack.smtp, 'batch-old');
    const next = uniqueEmail('batch-new');

    // The old address's SMTP transaction never gets its answer; the new address's mail goes through.
    const held = stack.smtp.holdMailTo(old);
    const change = await startChange(api, user, next);
    await held;
    await stack.smtp.waitForMessage(next);
    const rowOf = async (address: string) =>
      (await stack.pool.query('SELECT status, attempts, resent_in_doubt AS "inDoubt" FROM mail_messages WHERE change_id = $1 AND recipient = $2', [change.id, address])).rows[0];
    for (let i = 0; i < 100 && (await rowOf(next))?.status !== 'sent'; i++) await new Promise((r) => setTimeout(r, 50));
    await first.kill(); // the activity holding both mails dies before Temporal hears of either
    stack.smtp.stopHolding(old);

    const second = spawnWorker(stack.env);
    children.push(second);
    await second.ready;
    // Temporal times the lost attempt out (startToCloseTimeout 1m); each mail is then retried on its own.
    const status = await waitForStatus(api, user, (b) => b.change?.delivery.new.attempts >= 2 && b.change.delivery.old?.status === 'sent', 100_000);
    expect(status.change.delivery).toMatchObject({ new: { status: 'sent', attempts: 2 }, old: { status: 'sent', attempts: 2 } });
    expect(await rowOf(next)).toEqual({ status: 'sent', attempts: 2, inDoubt: 0 }); // found sent: nothing mailed again
    expect(await rowOf(old)).toEqual({ status: 'sent', attempts: 2, inDoubt: 1 }); // never answered: sent again, same Message-ID
    expect(stack.smtp.dropped()).toBeGreaterThanOrEqual(1);
    expect(stack.smtp.messagesTo(next)).toHaveLength(1);
    expect(stack.smtp.messagesTo(old)).toHaveLength(2); // the add's confirmation and this change's, once

    expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, old, 1) } })).body.state).toBe('REQUESTED');
    expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, next) } })).body.state).toBe('APPROVED');
  }, 180_000);
});
