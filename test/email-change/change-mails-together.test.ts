import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';

/**
 * Issue #12's shape 4: a change's two mails (the new address's and the old one's) go out in one
 * activity, `sendVerificationMails`, whenever both go out: at the start, on a resend, at the reminder.
 * Each mail keeps its own outcome: one failing neither fails nor resends the other, and only the
 * failed one is retried (alone, as a `sendVerificationMail`).
 */

let stack: TestStack;
let reminding: TestStack;
let api: ApiClient;
beforeAll(async () => {
  [stack, reminding] = await Promise.all([startStack({ RESEND_COOLDOWN: '1s' }), startStack({ EMAIL_CHANGE_TTL: '8s', REMINDER_BEFORE_EXPIRY: '5s' })]);
  api = apiClient(stack.baseUrl);
});
afterAll(() => Promise.all([stack?.stop(), reminding?.stop()]));

const scheduledActivities = async (userId: string, on = stack) => {
  const history = await on.temporal.workflow.getHandle(workflowIdFor(userId)).fetchHistory();
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

  it('a resend mails both fresh links in one activity; the first links are dead, the fresh ones approve', async () => {
    const { user, email: old } = await userWithVerifiedEmail(api, stack.smtp, 'resend-old');
    const next = uniqueEmail('resend-new');
    await startChange(api, user, next);
    const firstTokens = [await tokenFromMail(stack.smtp, next), await tokenFromMail(stack.smtp, old, 1)];
    await new Promise((r) => setTimeout(r, 1_100)); // RESEND_COOLDOWN
    const resent = await api.post('/v1/email/change/resend', { token: user.token, json: {} });
    expect(resent.status, resent.text).toBe(202);

    const fresh = [await tokenFromMail(stack.smtp, next, 1), await tokenFromMail(stack.smtp, old, 2)];
    for (const token of firstTokens) {
      const dead = await api.post('/v1/email/verify', { json: { token } });
      expect([dead.status, dead.body.error?.details?.reason]).toEqual([410, 'resent']);
    }
    const ok = [];
    for (const token of fresh) ok.push((await api.post('/v1/email/verify', { json: { token } })).body.state);
    expect(ok).toEqual(['REQUESTED', 'APPROVED']);
    expect([stack.smtp.messagesTo(next).length, stack.smtp.messagesTo(old).filter((m) => m.links.some((l) => l.includes('/verify-email'))).length]).toEqual([2, 3]);
    expect(await scheduledActivities(user.id)).toEqual(['sendVerificationMails', 'sendVerificationMails', 'sendChangedNotice']);
  });

  it("the reminder mails both addresses' fresh links in one activity, each a reminder", async () => {
    const remindingApi = apiClient(reminding.baseUrl);
    const { user, email: old } = await userWithVerifiedEmail(remindingApi, reminding.smtp, 'remind-old');
    const next = uniqueEmail('remind-new');
    await startChange(remindingApi, user, next);
    const reminders = [await reminding.smtp.waitForMessage(next, { seen: 1, timeoutMs: 10_000 }), await reminding.smtp.waitForMessage(old, { seen: 2, timeoutMs: 10_000 })];
    expect(reminders.map((m) => m.subject)).toEqual(['Reminder: your email change is waiting for confirmation', 'Reminder: your email change is waiting for confirmation']);
    const ok = [];
    for (const token of [await tokenFromMail(reminding.smtp, next, 1), await tokenFromMail(reminding.smtp, old, 2)]) ok.push((await remindingApi.post('/v1/email/verify', { json: { token } })).body.state);
    expect(ok).toEqual(['REQUESTED', 'APPROVED']);
    expect(await scheduledActivities(user.id, reminding)).toEqual(['sendVerificationMails', 'sendVerificationMails', 'sendChangedNotice']);
  });
});
