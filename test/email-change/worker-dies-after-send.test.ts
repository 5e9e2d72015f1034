import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';
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
});
