import type { Logger } from '../log';

/** A reason's stable code (`EMAIL_TAKEN: another account…` → EMAIL_TAKEN); free text is never logged. */
export function reasonCode(reason: unknown): string | undefined {
  return typeof reason === 'string' ? /^([A-Z][A-Z_]{2,40})(?::|$)/.exec(reason)?.[1] : undefined;
}

/** One JSON line per state change: ids and the state only, never an address or a token. */
export function logStateChange(log: Logger, change: { changeId: string; userId?: string; state: string; reason?: unknown }): void {
  log.info(
    { event: 'email_change.state', changeId: change.changeId, userId: change.userId, state: change.state, reasonCode: reasonCode(change.reason) },
    'email change state',
  );
}
