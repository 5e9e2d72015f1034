import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';

/**
 * Issue #15 item 6 on issue #12's shape 3, against the real Temporal dev server, PostgreSQL and SMTP:
 * the reminder and the deadline run on one timer at a time (to the reminder, then to the deadline).
 * Short durations stand in for the defaults (24 h and 2 h: reminder-time-skipping.test.ts).
 */
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ EMAIL_CHANGE_TTL: '8s', REMINDER_BEFORE_EXPIRY: '5s' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

/** The durations (ms) of the timers the user's run started, in order. */
async function timersOf(userId: string): Promise<number[]> {
  const history = await stack.temporal.workflow.getHandle(workflowIdFor(userId)).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.timerStartedEventAttributes?.startToFireTimeout)
    .filter((t) => t != null)
    .map((t) => Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6));
}

describe('REMINDER_BEFORE_EXPIRY (shape 3: one timer at a time)', () => {
  it('at the reminder a fresh link goes out, the first one is "resent", and the fresh one confirms', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('remind');
    await startChange(api, user, email);
    const first = await tokenFromMail(stack.smtp, email);
    const reminder = await stack.smtp.waitForMessage(email, { seen: 1, timeoutMs: 10_000 });
    expect(reminder.subject).toBe('Reminder: your email change is waiting for confirmation');

    const old = await api.post('/v1/email/verify', { json: { token: first } });
    expect([old.status, old.body.error?.details?.reason]).toEqual([410, 'resent']);
    const fresh = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, email, 1) } });
    expect([fresh.status, fresh.body.state]).toEqual([200, 'APPROVED']);

    const timers = await timersOf(user.id);
    expect(timers, JSON.stringify(timers)).toHaveLength(2);
    // To the reminder (at most 8 s − 5 s), then to the deadline (at most the 5 s left): shape 2 started one of 8 s.
    expect(timers[0]!).toBeGreaterThan(0);
    expect(timers[0]!).toBeLessThanOrEqual(3_000);
    expect(timers[1]!).toBeGreaterThan(0);
    expect(timers[1]!).toBeLessThanOrEqual(5_000);
  });

  it('unconfirmed: one reminder, then EXPIRED at the deadline with the lapse mail, and no mail twice', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('remind-lapse');
    await startChange(api, user, email);
    const expired = await waitForStatus(api, user, (b) => b.change?.state === 'EXPIRED', 20_000);
    expect(expired.change.state).toBe('EXPIRED');
    await stack.smtp.waitForMessage(email, { seen: 2, timeoutMs: 10_000 });
    expect(stack.smtp.messagesTo(email).map((m) => m.subject)).toEqual([
      'Confirm your email address',
      'Reminder: your email change is waiting for confirmation',
      'Your email change request expired',
    ]);
    expect(await timersOf(user.id)).toHaveLength(2);
  });
});
