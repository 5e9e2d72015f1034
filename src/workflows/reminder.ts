import { condition, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { shapeOf } from './messages';
import { linksInFlight } from './links-in-flight';
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

type Issue = (links: LinkState[]) => Promise<void>;

/** When this run reminds, if it does. */
function reminderAt(s: ChangeState): number | undefined {
  const beforeMs = s.input.policy.reminderBeforeExpiryMs ?? 0;
  if (shapeOf(s.input) < 2 || beforeMs <= 0) return undefined;
  const remindAt = deadlineOf(s) - beforeMs;
  return remindAt > s.input.requestedAt ? remindAt : undefined; // else the request is shorter than the reminder's lead
}

/** A fresh link to each address still unconfirmed; `issue` makes and mails them (the flow's own issueLinks). */
async function remind(s: ChangeState, issue: Issue): Promise<void> {
  s.reminded = true;
  const joined = linksInFlight(s); // a resend's fresh links, on their way, are the reminder (their mails are not marked one)
  if (joined) return joined;
  const links = requiredLinks(s).filter((l) => l.confirmedAt === null);
  for (const l of links) l.reminderSend = l.sends + 1;
  await issue(links);
}

/** Shape 2: waits, beside the main flow (on a timer of its own), for the reminder's moment. */
export async function remindBeforeExpiry(s: ChangeState, issue: Issue): Promise<void> {
  const remindAt = reminderAt(s);
  if (remindAt === undefined) return;
  const settled = () => s.state !== 'REQUESTED' || s.cancelRequested || allConfirmed(s);
  if (await condition(settled, Math.max(1, remindAt - Date.now()))) return;
  await remind(s, issue);
}

/**
 * Shape 3 (issue #12): the wait for every confirmation or a cancel, with the reminder and the deadline
 * on one timer at a time (to the reminder's moment, then to the deadline). False when the deadline came.
 */
export async function untilDecided(s: ChangeState, issue: Issue): Promise<boolean> {
  const decided = () => allConfirmed(s) || s.cancelRequested;
  const remindAt = reminderAt(s);
  if (remindAt !== undefined) {
    if (await condition(decided, Math.max(1, remindAt - Date.now()))) return true;
    await remind(s, issue);
  }
  return condition(decided, Math.max(1, deadlineOf(s) - Date.now()));
}

/** After the request ended EXPIRED: the new address hears that it lapsed (the old one got only the request's own mail). */
export async function tellLapsed(s: ChangeState): Promise<void> {
  if (shapeOf(s.input) < 2 || !s.input.policy.expiryNotice) return;
  await notices.sendLapsedNotice({ changeId: s.input.changeId }).catch(() => undefined);
}
