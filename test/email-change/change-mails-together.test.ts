import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';

/**
 * Issue #12's shape 4: a change's first two mails (the new address's and the old one's) go out in one
 * activity, `sendVerificationMails`. Each mail keeps its own outcome: one failing neither fails nor
 * resends the other, and only the failed one is retried (alone, as a `sendVerificationMail`).
 */

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const scheduledActivities = async (userId: string) => {
  const history = await stack.temporal.workflow.getHandle(workflowIdFor(userId)).fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
};

describe("a change's first mails in one activity", () => {
  it('both arrive once from one activity; confirming both approves', async () => {
    const { user, email: old } = await userWithVerifiedEmail(api, stack.smtp, 'together-old');
    const next = uniqueEmail('together-new');
    await startChange(api, user, next);

    const sent = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'sent' && b.change.delivery.old?.status === 'sent');
    expect(sent.change.delivery).toMatchObject({ new: { status: 'sent', attempts: 1 }, old: { status: 'sent', attempts: 1 } });
    const ok = [await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, next) } })];
    ok.push(await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, old, 1) } })); // mail 0 was the add's
    expect(ok.map((r) => r.body.state)).toEqual(['REQUESTED', 'APPROVED']);
    expect(stack.smtp.messagesTo(next)).toHaveLength(1);
    expect(await scheduledActivities(user.id)).toEqual(['sendVerificationMails', 'sendChangedNotice']);
  });

  it('550 for the old address, accepted for the new: the new one is sent, the old one fails alone and is not retried', async () => {
    const { user, email: old } = await userWithVerifiedEmail(api, stack.smtp, 'perm-old');
    const next = uniqueEmail('perm-new');
    stack.smtp.failMailTo(old, 1, 550, '550 5.1.1 No such mailbox');
    await startChange(api, user, next);

    const settled = await waitForStatus(api, user, (b) => b.change?.delivery.old?.status === 'failed' && b.change.delivery.new.status === 'sent');
    expect(settled.change.delivery.new).toMatchObject({ status: 'sent', attempts: 1 });
    expect(settled.change.delivery.old).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringMatching(/SMTP 550/) });
    expect(settled.change.state).toBe('REQUESTED');
    await tokenFromMail(stack.smtp, next);
    await new Promise((r) => setTimeout(r, 500));
    expect(stack.smtp.messagesTo(next)).toHaveLength(1);
    expect(stack.smtp.messagesTo(old)).toHaveLength(1); // the add's confirmation only
    expect(await scheduledActivities(user.id)).toEqual(['sendVerificationMails']);
  });

  it('421 then 451 for the new address: only it is retried, alone, and each address gets exactly one mail', async () => {
    const { user, email: old } = await userWithVerifiedEmail(api, stack.smtp, 'temp-old');
    const next = uniqueEmail('temp-new');
    stack.smtp.failMailTo(next, 1, 421, '421 4.3.2 Service not available, try later');
    stack.smtp.failMailTo(next, 1, 451, '451 4.3.0 Local error in processing');
    await startChange(api, user, next);

    const retrying = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'retrying');
    expect(retrying.change.delivery.new.lastError).toMatch(/SMTP 4\d\d/);
    const sent = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'sent', 30_000);
    expect(sent.change.delivery).toMatchObject({ new: { status: 'sent', attempts: 3 }, old: { status: 'sent', attempts: 1 } });
    const rows = await stack.pool.query('SELECT recipient, status, attempts FROM mail_messages WHERE change_id = $1 ORDER BY attempts', [sent.change.id]);
    expect(rows.rows).toEqual([
      { recipient: old, status: 'sent', attempts: 1 },
      { recipient: next, status: 'sent', attempts: 3 },
    ]);
    expect(await scheduledActivities(user.id)).toEqual(['sendVerificationMails', 'sendVerificationMail', 'sendVerificationMail']);

    const newToken = await tokenFromMail(stack.smtp, next);
    const oldToken = await tokenFromMail(stack.smtp, old, 1);
    expect((await api.post('/v1/email/verify', { json: { token: oldToken } })).body.state).toBe('REQUESTED');
    expect((await api.post('/v1/email/verify', { json: { token: newToken } })).body.state).toBe('APPROVED');
    expect(stack.smtp.messagesTo(next)).toHaveLength(1);
    expect(stack.smtp.messagesTo(old).filter((m) => m.links.some((l) => l.includes('/verify-email')))).toHaveLength(2); // the add's and this change's
  });
});
