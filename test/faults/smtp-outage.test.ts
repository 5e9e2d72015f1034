import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail } from '../helpers/flow';
import { eventually, sleep } from '../helpers/services';

/**
 * Issue 6, case 4: the SMTP server goes away (connections refused) while a verification mail and
 * a change notice are due; a new server comes up on the same port later. Each mail goes out once
 * it is back, exactly once, and the request still completes.
 */

let stack: TestStack;
let api: ApiClient;
let revived: SmtpCapture | undefined;
beforeAll(async () => {
  // One link per change, so a change of a verified address needs one click and ends with a notice.
  stack = await startStack({ CONFIRM_OLD_EMAIL: 'false' });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await revived?.stop();
  await stack?.stop();
});

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });

async function pendingActivityAttempt(userId: string, type: string): Promise<number> {
  const described = await stack.temporal.workflow.getHandle(`email-change-${userId}`).describe();
  const pending = described.raw.pendingActivities?.find((a) => a.activityType?.name === type);
  return pending?.attempt ?? 0;
}

describe('SMTP down (connection refused)', () => {
  it('the verification mail and the change notice go out once it is back, exactly once', { timeout: 90_000 }, async () => {
    // A user with a verified address starts a change while the mail server is up.
    const changer = await signedInUser(api);
    const oldEmail = uniqueEmail('smtp-old');
    await startChange(api, changer, oldEmail);
    expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, oldEmail) } })).body.state).toBe('APPROVED');
    const newEmail = uniqueEmail('smtp-new');
    const change = await startChange(api, changer, newEmail);
    const changeToken = await tokenFromMail(stack.smtp, newEmail);

    // The mail server goes away.
    const port = stack.smtp.port;
    await stack.smtp.stop();
    expect(await refused(port)).toBe(true);

    // A new request's link cannot be mailed: the workflow retries with backoff and says so.
    const adder = await signedInUser(api);
    const addEmail = uniqueEmail('smtp-add');
    const add = await startChange(api, adder, addEmail);
    const retrying = await eventually(async () => {
      const body = (await api.get('/v1/email/change', { token: adder.token })).body;
      return body.change?.delivery.new.status === 'retrying' && body.change.delivery.new.attempts >= 2 ? body.change : undefined;
    }, 20_000, 'delivery shows retrying');
    expect(retrying.delivery.new.lastError).toMatch(/ECONNREFUSED/);

    // The change is confirmed while the server is down: it applies; its notice to the old address is retried.
    const confirmed = await api.post('/v1/email/verify', { json: { token: changeToken } });
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(confirmed.body).toMatchObject({ id: change.id, state: 'APPROVED' });
    await eventually(async () => ((await pendingActivityAttempt(changer.id, 'sendChangedNotice')) >= 2 ? true : undefined), 20_000, 'the notice is retried');
    const downFor = Date.now();

    // A new server on the same port.
    revived = await startSmtpCapture({ port });
    const [mail, notice] = await Promise.all([
      revived.waitForMessage(addEmail, { timeoutMs: 45_000 }),
      revived.waitForMessage(oldEmail, { timeoutMs: 45_000 }),
    ]);
    console.log(`[faults] SMTP outage: mails delivered ${((Date.now() - downFor) / 1000).toFixed(1)} s after the server came back`);
    expect(notice.subject).toBe('Your account email was changed');

    // The link works; nothing was sent twice, even after the retries settle.
    const ok = await api.post('/v1/email/verify', { json: { token: new URL(mail.links.find((l) => l.includes('/verify-email'))!).searchParams.get('token') } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toMatchObject({ id: add.id, state: 'APPROVED' });
    await sleep(3_000);
    expect(revived.messagesTo(addEmail)).toHaveLength(1);
    expect(revived.messagesTo(oldEmail)).toHaveLength(1);
    expect(revived.messagesTo(newEmail)).toHaveLength(0);
    const status = (await api.get('/v1/email/change', { token: adder.token })).body.change;
    expect(status.delivery.new.status).toBe('sent');
    expect(status.delivery.new.attempts).toBeGreaterThanOrEqual(3);

    const rows = await stack.pool.query<{ kind: string; status: string; attempts: number }>(
      'SELECT kind, status, attempts FROM mail_messages WHERE change_id = ANY($1) ORDER BY kind',
      [[add.id, change.id]],
    );
    expect(rows.rows.map((r) => [r.kind, r.status])).toEqual([
      ['notice', 'sent'],
      ['verify-new', 'sent'],
      ['verify-new', 'sent'],
    ]);
    expect(rows.rows.every((r) => r.attempts >= 1)).toBe(true);
    expect(await refused(port)).toBe(false);
  });
});
