import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../src/codec/data-converter';
import { RequestRows } from '../../src/email-change/requests';
import { JOIN_LINKS_IN_FLIGHT } from '../../src/workflows/links-in-flight';
import { ONE_LOCAL_ACTIVITY_AT_A_TIME } from '../../src/workflows/local-db';
import { messageKeyOf, workflowIdFor } from '../../src/workflows/messages';
import { startStack, type TestStack } from '../helpers/stack';
import { startInProcessWorker, type InProcessWorker } from '../helpers/services';
import { apiClient, uniqueEmail, type ApiClient, type ApiResponse, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';

/**
 * Two things reaching a run in one workflow task (its worker was away or busy while both came in).
 * Each one's PostgreSQL step is a local activity, and two in flight at once replayed in another order
 * than they ran, so the run failed its next task with a nondeterminism error once its worker lost it
 * (ONE_LOCAL_ACTIVITY_AT_A_TIME: now one after the other). A resend and the reminder, or two resends,
 * each made fresh links, leaving the first set stale before it was mailed, and mailed both
 * (JOIN_LINKS_IN_FLIGHT: the second joins the first's). Each case drives the race over HTTP with the
 * worker stopped, checks the outcome and the mail, and replays the run's history.
 */

interface Site {
  stack: TestStack;
  api: ApiClient;
  worker: InProcessWorker;
}

const sites: Site[] = [];
async function site(env: Record<string, string>): Promise<Site> {
  const stack = await startStack(env, { worker: false });
  const s = { stack, api: apiClient(stack.baseUrl), worker: await startInProcessWorker(stack.env) };
  sites.push(s);
  return s;
}

let plain: Site;
/** The reminder 6 s after a start. */
let reminding: Site;
/** No cooldown between resends. */
let resending: Site;
beforeAll(async () => {
  [plain, reminding, resending] = await Promise.all([
    site({ RESEND_COOLDOWN: '1s' }),
    site({ RESEND_COOLDOWN: '1s', EMAIL_CHANGE_TTL: '30s', REMINDER_BEFORE_EXPIRY: '24s' }),
    site({ RESEND_COOLDOWN: '0s' }),
  ]);
});
afterAll(() => Promise.all(sites.map(async (s) => (await s.worker.stop(), await s.stack.stop()))));

/** A pending change from a verified address, once both its first mails are in. */
async function pendingChange({ api, stack }: Site, tag: string) {
  const { user, email: old } = await userWithVerifiedEmail(api, stack.smtp, `${tag}-old`);
  const next = uniqueEmail(`${tag}-new`);
  const change = await startChange(api, user, next);
  const [newToken, oldToken] = await Promise.all([tokenFromMail(stack.smtp, next), tokenFromMail(stack.smtp, old, 1)]);
  const { resendsLeft } = (await api.get('/v1/email/change', { token: user.token })).body.change;
  return { user, old, next, changeId: change.id as string, createdAt: Date.parse(change.createdAt), resendsLeft: resendsLeft as number, tokens: { new: newToken!, old: oldToken! } };
}

/** Sends the requests while no worker polls (a second apart, so they reach the run in order; the first not before `at`), then brings the worker back. */
async function whileWorkerAway(s: Site, requests: (() => Promise<ApiResponse>)[], at = Date.now()) {
  await s.worker.stop();
  await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
  const answers = [];
  for (const request of requests) {
    answers.push(request());
    await new Promise((r) => setTimeout(r, 1_000));
  }
  s.worker = await startInProcessWorker(s.stack.env);
  return Promise.all(answers);
}

/** The run took these patches' paths (core's TemporalChangeVersion lists them) and its history replays. */
async function replaysWith({ stack }: Site, user: TestUser, patches: string[]) {
  const history = await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).fetchHistory();
  const versions = (history.events ?? []).flatMap((e) => {
    const data = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion?.data;
    return data ? [JSON.parse(Buffer.from(data).toString()) as string[]] : [];
  });
  expect(versions.at(-1)?.sort()).toEqual([...patches].sort());
  await expect(Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: dataConverter(stack.config.payloadKeys) }, history)).resolves.toBeUndefined();
}

const scheduledActivities = async ({ stack }: Site, user: TestUser) => {
  const history = await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
};

/**
 * After a resend race: one more mail per address, both from one activity, shown sent; their links
 * approve the change. Returns the status as it stood before the confirmations.
 */
async function oneSetOfFreshLinks(s: Site, c: Awaited<ReturnType<typeof pendingChange>>) {
  const { smtp } = s.stack;
  const fresh = [await tokenFromMail(smtp, c.next, 1), await tokenFromMail(smtp, c.old, 2)];
  await new Promise((r) => setTimeout(r, 1_000)); // a second set would be on its way by now
  const oldVerifications = smtp.messagesTo(c.old).filter((m) => m.links.some((l) => l.includes('/verify-email')));
  expect([smtp.messagesTo(c.next).length, oldVerifications.length]).toEqual([2, 3]); // the old address's include its add's
  expect(await scheduledActivities(s, c.user)).toEqual(['sendVerificationMails', 'sendVerificationMails']);
  const { change } = await waitForStatus(s.api, c.user, (b) => b.change?.delivery.new.status === 'sent' && b.change.delivery.old?.status === 'sent');
  expect(change.delivery).toMatchObject({ new: { status: 'sent', attempts: 1 }, old: { status: 'sent', attempts: 1 } });
  const ok = [];
  for (const token of fresh) ok.push((await s.api.post('/v1/email/verify', { json: { token } })).body.state);
  expect(ok).toEqual(['REQUESTED', 'APPROVED']);
  return change;
}

describe('two things in one workflow task', () => {
  it('both links of a change confirmed: the first answers REQUESTED, the second APPROVED, and the run replays', async () => {
    const c = await pendingChange(plain, 'both');
    const answers = await whileWorkerAway(plain, [
      () => plain.api.post('/v1/email/verify', { json: { token: c.tokens.new } }),
      () => plain.api.post('/v1/email/verify', { json: { token: c.tokens.old } }),
    ]);
    expect(answers.map((a) => [a.status, a.body.state])).toEqual([
      [200, 'REQUESTED'],
      [200, 'APPROVED'],
    ]);
    await replaysWith(plain, c.user, [ONE_LOCAL_ACTIVITY_AT_A_TIME]);
  });

  it('a confirmation and a cancel: the confirmation is recorded, the cancel ends the request, and the run replays', async () => {
    const c = await pendingChange(plain, 'cancel');
    const answers = await whileWorkerAway(plain, [
      () => plain.api.post('/v1/email/verify', { json: { token: c.tokens.new } }),
      () => plain.api.delete('/v1/email/change', { token: c.user.token }),
    ]);
    expect(answers.map((a) => [a.status, a.body.state ?? a.body.change?.state])).toEqual([
      [200, 'REQUESTED'],
      [200, 'CANCELLED'],
    ]);
    const status = await plain.api.get('/v1/email/change', { token: c.user.token });
    expect(status.body.change).toMatchObject({ state: 'CANCELLED', confirmations: { new: true, old: false } });
    await replaysWith(plain, c.user, [ONE_LOCAL_ACTIVITY_AT_A_TIME]);
  });

  it('a resend as the reminder falls due: one set of fresh links, one mail per address in one activity, and the run replays', async () => {
    const c = await pendingChange(reminding, 'remind');
    const [resent] = await whileWorkerAway(reminding, [() => reminding.api.post('/v1/email/change/resend', { token: c.user.token, json: {} })], c.createdAt + 6_500);
    expect(resent!.status, resent!.text).toBe(202);

    const status = await oneSetOfFreshLinks(reminding, c);
    // The reminder ran first (its mails say so) and the resend joined it, uncounted; or the resend ran first, counted.
    const remindedFirst = reminding.stack.smtp.messagesTo(c.next)[1]!.subject.startsWith('Reminder:');
    expect(status.resendsLeft).toBe(remindedFirst ? c.resendsLeft : c.resendsLeft - 1);
    // (The resend's own two links are made one after the other too.)
    await replaysWith(reminding, c.user, [JOIN_LINKS_IN_FLIGHT, ONE_LOCAL_ACTIVITY_AT_A_TIME]);
  });

  it('two resends: the second joins the first one\'s fresh links, uncounted; one mail per address, and the run replays', async () => {
    const c = await pendingChange(resending, 'twice');
    const answers = await whileWorkerAway(resending, [
      () => resending.api.post('/v1/email/change/resend', { token: c.user.token, json: {} }),
      () => resending.api.post('/v1/email/change/resend', { token: c.user.token, json: {} }),
    ]);
    expect(answers.map((a) => a.status)).toEqual([202, 202]);

    expect((await oneSetOfFreshLinks(resending, c)).resendsLeft).toBe(c.resendsLeft - 1);
    await replaysWith(resending, c.user, [JOIN_LINKS_IN_FLIGHT, ONE_LOCAL_ACTIVITY_AT_A_TIME]);
  });

  it("the status and the link check take a purpose's latest link by its send number, not by when its row was committed", async () => {
    const c = await pendingChange(plain, 'order');
    // Send 10 sent; send 9 (stale, never mailed) committed after it. 10 sorts before 9 as text, and 9 is the newer row.
    const row = (sendNo: number, status: string, ageMs: number) =>
      plain.stack.pool.query(
        `INSERT INTO mail_messages (message_key, change_id, kind, recipient, token_verifier, status, attempts, sent_at, created_at)
         VALUES ($1, $2, 'verify-new', $3, $4, $5, 1, CASE WHEN $5 = 'sent' THEN now() END, now() - make_interval(secs => $6))`,
        [messageKeyOf(c.changeId, 'new', sendNo), c.changeId, c.next, `verifier-${sendNo}`, status, ageMs / 1000],
      );
    await row(10, 'sent', 60_000);
    await row(9, 'sending', 0);
    const status = await plain.api.get('/v1/email/change', { token: c.user.token });
    expect(status.body.change.delivery.new).toMatchObject({ status: 'sent', attempts: 1 });
    expect(await new RequestRows(plain.stack.pool).latestVerifier(c.changeId, 'new')).toBe('verifier-10');
  });
});
