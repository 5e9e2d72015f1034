import { condition, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { allConfirmed, deadlineOf, requiredLinks, type ChangeState, type LinkState } from './state';

/**
 * Issue #15 item 6, on the run's own timers: one reminder, REMINDER_BEFORE_EXPIRY before the deadline,
 * with a fresh link to each address still unconfirmed (the previous link of that purpose stops working,
 * as after a resend, but the user's resends are not spent); and, when the request lapses, a mail to the
 * new address saying so. Only runs whose pinned policy has the fields do either.
 */

const notices = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 12, nonRetryableErrorTypes: ['SMTP_PERMANENT'] },
});

/** Waits, beside the main flow, for the reminder's moment; `issue` makes and mails a fresh link (the flow's own issueLink). */
export async function remindBeforeExpiry(s: ChangeState, issue: (link: LinkState) => Promise<void>): Promise<void> {
  const beforeMs = s.input.policy.reminderBeforeExpiryMs ?? 0;
  if (s.input.shape !== 2 || beforeMs <= 0) return;
  const remindAt = deadlineOf(s) - beforeMs;
  if (remindAt <= s.input.requestedAt) return; // the request is shorter than the reminder's lead
  const settled = () => s.state !== 'REQUESTED' || s.cancelRequested || allConfirmed(s);
  if (await condition(settled, Math.max(1, remindAt - Date.now()))) return;
  s.reminded = true;
  await Promise.all(
    requiredLinks(s)
      .filter((l) => l.confirmedAt === null)
      .map((l) => {
        l.reminderSend = l.sends + 1;
        return issue(l);
      }),
  );
}

/** After the request ended EXPIRED: the new address hears that it lapsed (the old one got only the request's own mail). */
export async function tellLapsed(s: ChangeState): Promise<void> {
  if (s.input.shape !== 2 || !s.input.policy.expiryNotice) return;
  await notices.sendLapsedNotice({ changeId: s.input.changeId }).catch(() => undefined);
}
