import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../src/codec/data-converter';
import { JOIN_LINKS_IN_FLIGHT } from '../../src/workflows/links-in-flight';
import { ONE_LOCAL_ACTIVITY_AT_A_TIME } from '../../src/workflows/local-db';
import { RequestRows } from '../../src/email-change/requests';
import { startStack, type TestStack } from '../helpers/stack';
import { startInProcessWorker } from '../helpers/services';
import { apiClient, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { messageKeyOf, workflowIdFor } from '../../src/workflows/messages';

/**
 * Issue #12's shape 4: a change's two mails (the new address's and the old one's) go out in one
 * activity, `sendVerificationMails`, whenever both go out: at the start, on a resend, at the reminder.
 * Each mail keeps its own outcome: one failing neither fails nor resends the other, and only the
 * failed one is retried (alone, as a `sendVerificationMail`).
 */

let stack: TestStack;
let reminding: TestStack;
/** Their workers are the tests' own: stopped while the reminder falls due or two resends come in, so both reach the run in one task. */
let racing: TestStack;
let resending: TestStack;
let api: ApiClient;
beforeAll(async () => {
  [stack, reminding, racing, resending] = await Promise.all([
    startStack({ RESEND_COOLDOWN: '1s' }),
    startStack({ EMAIL_CHANGE_TTL: '8s', REMINDER_BEFORE_EXPIRY: '5s' }),
    startStack({ RESEND_COOLDOWN: '1s', EMAIL_CHANGE_TTL: '30s', REMINDER_BEFORE_EXPIRY: '24s' }, { worker: false }),
    startStack({ RESEND_COOLDOWN: '0s' }, { worker: false }),
  ]);
  api = apiClient(stack.baseUrl);
});
afterAll(() => Promise.all([stack?.stop(), reminding?.stop(), racing?.stop(), resending?.stop()]));

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

  it("the status and the link check take a purpose's latest link by its send number, not by when its row was committed", async () => {
    const { user } = await userWithVerifiedEmail(api, stack.smtp, 'order-old');
    const next = uniqueEmail('order-new');
    const { id: changeId } = await startChange(api, user, next);
    await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'sent' && b.change.delivery.old?.status === 'sent');
    // Send 10 sent; send 9 (stale, never mailed) committed after it. 10 sorts before 9 as text, and 9 is the newer row.
    const row = (sendNo: number, status: string, ageMs: number) =>
      stack.pool.query(
        `INSERT INTO mail_messages (message_key, change_id, kind, recipient, token_verifier, status, attempts, sent_at, created_at)
         VALUES ($1, $2, 'verify-new', $3, $4, $5, 1, CASE WHEN $5 = 'sent' THEN now() END, now() - make_interval(secs => $6))`,
        [messageKeyOf(changeId, 'new', sendNo), changeId, next, `verifier-${sendNo}`, status, ageMs / 1000],
      );
    await row(10, 'sent', 60_000);
    await row(9, 'sending', 0);
    const status = await api.get('/v1/email/change', { token: user.token });
    expect(status.body.change.delivery.new).toMatchObject({ status: 'sent', attempts: 1 });
    expect(await new RequestRows(stack.pool).latestVerifier(changeId, 'new')).toBe('verifier-10');
  });

  it('a resend and the reminder in one workflow task: the second joins the fresh links the first is making; one mail per address, in one activity', async () => {
    const racingApi = apiClient(racing.baseUrl);
    let worker = await startInProcessWorker(racing.env);
    try {
      const { user, email: old } = await userWithVerifiedEmail(racingApi, racing.smtp, 'race-old');
      const next = uniqueEmail('race-new');
      const { createdAt } = await startChange(racingApi, user, next);
      await Promise.all([tokenFromMail(racing.smtp, next), tokenFromMail(racing.smtp, old, 1)]);
      const { resendsLeft } = (await racingApi.get('/v1/email/change', { token: user.token })).body.change;

      // No worker while the reminder falls due (6 s after the start); the resend then waits in the same pending task.
      await worker.stop();
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(createdAt) + 6_500 - Date.now())));
      const resend = racingApi.post('/v1/email/change/resend', { token: user.token, json: {} });
      await new Promise((r) => setTimeout(r, 500));
      worker = await startInProcessWorker(racing.env);
      const resent = await resend;
      expect(resent.status, resent.text).toBe(202);

      // Whichever ran first made the fresh links; the other joined them (no second set to leave stale).
      const fresh = [await tokenFromMail(racing.smtp, next, 1), await tokenFromMail(racing.smtp, old, 2)];
      await new Promise((r) => setTimeout(r, 1_000));
      expect([racing.smtp.messagesTo(next).length, racing.smtp.messagesTo(old).filter((m) => m.links.some((l) => l.includes('/verify-email'))).length]).toEqual([2, 3]);
      expect(await scheduledActivities(user.id, racing)).toEqual(['sendVerificationMails', 'sendVerificationMails']);
      // Both were begun in one task (the join's patch marker says so), and the status shows the mailed links as sent.
      const handle = racing.temporal.workflow.getHandle(workflowIdFor(user.id));
      const changeVersions = ((await handle.fetchHistory()).events ?? []).flatMap((e) => {
        const data = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion?.data;
        return data ? [Buffer.from(data).toString()] : [];
      });
      // (The resend's own two links are made one after the other too: ONE_LOCAL_ACTIVITY_AT_A_TIME.)
      expect(JSON.parse(changeVersions.at(-1)!).sort()).toEqual([JOIN_LINKS_IN_FLIGHT, ONE_LOCAL_ACTIVITY_AT_A_TIME].sort());
      const status = await waitForStatus(racingApi, user, (b) => b.change?.delivery.new.status === 'sent' && b.change.delivery.old?.status === 'sent');
      expect(status.change.delivery).toMatchObject({ new: { status: 'sent', attempts: 1 }, old: { status: 'sent', attempts: 1 } });
      // The reminder ran first (its mails say so) and the resend joined it, uncounted; or the resend ran first, counted.
      const remindedFirst = racing.smtp.messagesTo(next)[1]!.subject.startsWith('Reminder:');
      expect(status.change.resendsLeft).toBe(remindedFirst ? resendsLeft : resendsLeft - 1);

      // The links mailed are the working ones, and the run (its undo window still open) replays on its new path.
      const ok = [];
      for (const token of fresh) ok.push((await racingApi.post('/v1/email/verify', { json: { token } })).body.state);
      expect(ok).toEqual(['REQUESTED', 'APPROVED']);
      await expect(Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: dataConverter(racing.config.payloadKeys) }, await handle.fetchHistory())).resolves.toBeUndefined();
    } finally {
      await worker.stop();
    }
  });

  it('two resends in one workflow task: the second joins the fresh links the first is making, uncounted; one mail per address', async () => {
    const resendingApi = apiClient(resending.baseUrl);
    let worker = await startInProcessWorker(resending.env);
    try {
      const { user, email: old } = await userWithVerifiedEmail(resendingApi, resending.smtp, 'twice-old');
      const next = uniqueEmail('twice-new');
      await startChange(resendingApi, user, next);
      await Promise.all([tokenFromMail(resending.smtp, next), tokenFromMail(resending.smtp, old, 1)]);
      const { resendsLeft } = (await resendingApi.get('/v1/email/change', { token: user.token })).body.change;

      // No worker while both come in (RESEND_COOLDOWN 0s): they reach the run in one task.
      await worker.stop();
      const first = resendingApi.post('/v1/email/change/resend', { token: user.token, json: {} });
      await new Promise((r) => setTimeout(r, 200));
      const second = resendingApi.post('/v1/email/change/resend', { token: user.token, json: {} });
      await new Promise((r) => setTimeout(r, 500));
      worker = await startInProcessWorker(resending.env);
      expect([(await first).status, (await second).status]).toEqual([202, 202]);

      const fresh = [await tokenFromMail(resending.smtp, next, 1), await tokenFromMail(resending.smtp, old, 2)];
      await new Promise((r) => setTimeout(r, 1_000));
      expect([resending.smtp.messagesTo(next).length, resending.smtp.messagesTo(old).filter((m) => m.links.some((l) => l.includes('/verify-email'))).length]).toEqual([2, 3]);
      expect(await scheduledActivities(user.id, resending)).toEqual(['sendVerificationMails', 'sendVerificationMails']);
      const status = await waitForStatus(resendingApi, user, (b) => b.change?.delivery.new.status === 'sent' && b.change.delivery.old?.status === 'sent');
      expect(status.change.resendsLeft).toBe(resendsLeft - 1);
      const ok = [];
      for (const token of fresh) ok.push((await resendingApi.post('/v1/email/verify', { json: { token } })).body.state);
      expect(ok).toEqual(['REQUESTED', 'APPROVED']);
      const handle = resending.temporal.workflow.getHandle(workflowIdFor(user.id));
      await expect(Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: dataConverter(resending.config.payloadKeys) }, await handle.fetchHistory())).resolves.toBeUndefined();
    } finally {
      await worker.stop();
    }
  });
});
