import { ApplicationFailure } from '@temporalio/common';
import { AppError } from '../api/errors';
import { DeclineCode, FailureType, type ChangeStateName, type ChangeStatus, type LinkDeadReason } from '../workflows/messages';
import type { ReasonCode } from '../api/schemas';

/** R-ERR answers of the flow: the workflow's typed refusals and the request rows' final states. */

const DEAD_REASON: Partial<Record<ChangeStateName, LinkDeadReason>> = {
  SUPERSEDED: 'superseded',
  CANCELLED: 'cancelled',
  EXPIRED: 'expired',
  APPROVED: 'finished',
  DECLINED: 'finished',
};

export const deadReasonOf = (state: ChangeStateName): LinkDeadReason => DEAD_REASON[state] ?? 'finished';

export const invalidToken = () => new AppError(400, 'INVALID_TOKEN', 'This link is not valid');
/** One answer for "nothing pending" wherever it is found out: the API looked, or the workflow had just closed. */
export const noPendingChange = (message = 'There is no pending email change') => new AppError(404, 'NO_PENDING_CHANGE', message);
export const linkExpired = (reason: LinkDeadReason, message: string) => new AppError(410, 'LINK_EXPIRED', message, { reason });

/** A DECLINED request: another account won the address, or the account's own address moved meanwhile. */
export function declined(reason: string | null): AppError {
  if (reason?.startsWith(DeclineCode.accountEmailChanged)) {
    return new AppError(409, DeclineCode.accountEmailChanged, "The account's email address changed while this request was open; start a new request");
  }
  return new AppError(409, 'EMAIL_TAKEN', 'Another account verified this address first');
}

export function deadLink(row: { state: ChangeStateName; reason: string | null }): AppError {
  if (row.state === 'DECLINED') return declined(row.reason);
  return linkExpired(deadReasonOf(row.state), `This request is ${row.state.toLowerCase()}`);
}

export function fromWorkflowFailure(failure: ApplicationFailure): AppError {
  const details = (failure.details?.[0] ?? {}) as { reason?: LinkDeadReason; retryAfterMs?: number | null; resendsLeft?: number; attemptsLeft?: number };
  switch (failure.type) {
    case FailureType.invalidToken:
      return invalidToken();
    case FailureType.linkExpired:
      return linkExpired(details.reason ?? 'expired', failure.message);
    case FailureType.rateLimited: {
      const seconds = Math.max(1, Math.ceil((details.retryAfterMs ?? 1000) / 1000));
      return new AppError(429, 'RATE_LIMITED', failure.message, { retryAfterSeconds: seconds, ...(details.resendsLeft === 0 ? { resendsLeft: 0 } : {}) }, { 'Retry-After': String(seconds) });
    }
    case FailureType.beingApplied:
      return new AppError(409, 'CHANGE_BEING_APPLIED', failure.message);
    // Issue #15 item 7: typed codes.
    case FailureType.invalidCode:
      return new AppError(400, 'INVALID_CODE', failure.message, { attemptsLeft: details.attemptsLeft ?? 0 });
    case FailureType.codeLocked:
      return new AppError(409, 'CODE_LOCKED', failure.message, { attemptsLeft: 0 });
    default:
      return noPendingChange(failure.message);
  }
}

/** Why a request ended, for programs (`reasonCode`), from its state and the text the flow recorded. */
export function reasonCodeOf(change: Pick<ChangeStatus, 'state' | 'reason'>): ReasonCode | null {
  switch (change.state) {
    case 'SUPERSEDED':
    case 'CANCELLED':
    case 'EXPIRED':
      return change.state;
    case 'DECLINED':
      return change.reason?.startsWith(DeclineCode.accountEmailChanged) ? 'ACCOUNT_EMAIL_CHANGED' : 'EMAIL_TAKEN';
    default:
      return null;
  }
}

export const withReasonCode = <T extends ChangeStatus>(change: T): T & { reasonCode: ReasonCode | null } => ({ ...change, reasonCode: reasonCodeOf(change) });

export function isClosedWorkflowError(err: unknown): boolean {
  const text = err instanceof Error ? `${err.name} ${err.message}` : '';
  return /workflow execution already completed|already completed|not found/i.test(text);
}
