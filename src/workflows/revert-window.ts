import { ApplicationFailure, allHandlersFinished, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { verifierOf } from './link-proof';
import { FailureType, revertUpdate, shapeOf, type ChangeStatus, type OpenRevertWindow, type RevertRequest, type RevertResult } from './messages';
import type { ChangeState, RevertWindow } from './state';
import { localDbOf } from './local-db';

/**
 * Issue #15 item 4: "this wasn't me". An approved change's old verified address gets an undo link in
 * its change notice; the run stays open for REVERT_WINDOW on its own durable timer, waiting for the
 * `revert` Update. A newer start of the user's workflow terminates this run, so the newer run adopts
 * every open window from PostgreSQL and holds it to the same deadline. Only runs whose pinned policy
 * has `revertWindowMs` do any of this; older histories replay without it.
 */

const notices = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 12, nonRetryableErrorTypes: ['SMTP_PERMANENT'] },
});

export const windowsOn = (s: ChangeState): boolean => s.input.policy.revertWindowMs !== undefined && shapeOf(s.input) >= 2;

/** Registers the `revert` Update (runs with an undo policy only). */
export function startRevertWindows(s: ChangeState): void {
  if (!windowsOn(s)) return;
  setHandler(
    revertUpdate,
    async ({ changeId }) => {
      const window = s.revertWindows.find((w) => w.changeId === changeId)!;
      if (window.revertedAt !== null) {
        await condition(() => window.result !== undefined || window.revertedAt === null);
        if (window.result) return { ...window.result, alreadyReverted: true };
      }
      window.revertedAt = Date.now();
      let result: RevertResult;
      try {
        result = await localDbOf(s).revertEmailChange({ changeId, userId: s.input.userId, lockMs: s.input.policy.revertLockMs ?? 0 });
      } catch (err) {
        window.revertedAt = null; // nothing changed: the link still works
        throw err;
      }
      window.result = result;
      // One undo restores the account: every other window closes, and a pending request of this run ended with it.
      for (const other of s.revertWindows) if (other !== window) other.closed = true;
      if (s.state === 'REQUESTED') s.cancelRequested = true;
      s.sendsInFlight += 1; // the run completes after these mails (holdRevertWindows)
      void notices
        .sendRevertedNotices({ changeId })
        .catch(() => undefined) // the account is restored either way; each mail's status is in mail_messages
        .finally(() => (s.sendsInFlight -= 1));
      return result;
    },
    { validator: (request) => checkRevert(s, request) },
  );
}

/** R-TOKEN for the undo link: only the window's own link, before its deadline, while no other undo restored the account. */
function checkRevert(s: ChangeState, { changeId, proof }: RevertRequest): void {
  const window = s.revertWindows.find((w) => w.changeId === changeId);
  if (!window || typeof proof !== 'string' || verifierOf(proof) !== window.verifier) {
    throw ApplicationFailure.create({ type: FailureType.invalidToken, message: 'This link is not valid', nonRetryable: true });
  }
  if (window.revertedAt !== null) return; // a second click hears what the first one did
  if (window.closed) throw dead('finished', 'The account was already restored by another undo');
  if (Date.now() >= window.until) throw dead('expired', 'The time to undo this change has passed');
}

const dead = (reason: 'expired' | 'finished', message: string) =>
  ApplicationFailure.create({ type: FailureType.linkExpired, message, details: [{ reason }], nonRetryable: true });

/** Where an undo window opened now would end; undefined when this run opens none. */
export function revertWindowEnd(s: ChangeState): number | undefined {
  const windowMs = s.input.policy.revertWindowMs ?? 0;
  if (!windowsOn(s) || windowMs <= 0 || s.revertWindows.some((w) => w.revertedAt !== null)) return undefined;
  return Date.now() + windowMs;
}

/** Shape 2, after an approved change with a verified old address: makes the undo link (mailed with the change notice) and opens its window. */
export async function openRevertWindow(s: ChangeState): Promise<void> {
  const until = revertWindowEnd(s);
  if (until === undefined) return;
  revertWindowOpened(s, until, await localDbOf(s).prepareRevertLink({ changeId: s.input.changeId, userId: s.input.userId, until }));
}

/** The undo link was made (none for an account under an undo's block): its window is open until `until`. */
export function revertWindowOpened(s: ChangeState, until: number, prepared: { verifier: string } | null | undefined): void {
  if (prepared) s.revertWindows.push({ changeId: s.input.changeId, verifier: prepared.verifier, until, revertedAt: null, closed: false });
}

/** A newer run takes over the open windows of the run its start terminated (so a new start never ends an undo window). */
export async function adoptRevertWindows(s: ChangeState): Promise<void> {
  if (!windowsOn(s)) return;
  adoptOpenWindows(s, await localDbOf(s).openRevertWindows({ userId: s.input.userId, changeId: s.input.changeId }));
}

/** Holds the given open windows here (shape 3 finds them in its first local activity). */
export function adoptOpenWindows(s: ChangeState, open: OpenRevertWindow[]): void {
  for (const w of open) s.revertWindows.push({ changeId: w.changeId, verifier: w.verifier, until: w.until, revertedAt: null, closed: false });
}

const isOpen = (w: RevertWindow) => w.revertedAt === null && !w.closed && Date.now() < w.until;

/** The run's end: holds every open window to its deadline (one timer, to the latest), then completes. */
export async function holdRevertWindows(s: ChangeState, result: ChangeStatus): Promise<ChangeStatus> {
  if (!windowsOn(s) || s.revertWindows.length === 0) return result;
  const last = Math.max(...s.revertWindows.map((w) => w.until));
  if (s.revertWindows.some(isOpen)) await condition(() => !s.revertWindows.some((w) => w.revertedAt === null && !w.closed), Math.max(1, last - Date.now()));
  await condition(() => allHandlersFinished() && s.sendsInFlight === 0);
  return result;
}
