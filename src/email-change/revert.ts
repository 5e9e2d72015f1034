import type pg from 'pg';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AppError } from '../api/errors';
import { proofOf, tokenVerifier, verifyRevertToken } from '../tokens';
import { FailureType, revertUpdate, workflowIdFor, type RevertResult } from '../workflows/messages';
import { isClosedWorkflowError } from './errors';
import { callTemporal } from './temporal-call';

/** How long an undo waits on Temporal before answering "try again" (503). */
const TEMPORAL_DEADLINE_MS = 15_000;

/** What the undo page shows for a link, decided without acting (mail scanners open links). */
export type RevertView =
  | { kind: 'confirm'; oldEmail: string; newEmail: string; until: number; locale: string | null; timeZone: string | null }
  | { kind: 'already'; locale: string | null; timeZone: string | null }
  | { kind: 'closed'; locale: string | null; timeZone: string | null }
  | { kind: 'invalid' };

interface WindowRow {
  userId: string;
  state: string;
  oldEmail: string | null;
  newEmail: string;
  revertUntil: Date | null;
  revertedAt: Date | null;
  verifier: string | null;
  locale: string | null;
  timeZone: string | null;
}

/**
 * Issue #15 item 4, the API's side of "this wasn't me": the undo link's page looks in PostgreSQL; its
 * button hands the link's proof to the user's workflow (`revert` Update), which checks it against the
 * window it holds and restores the account. Temporal out of reach is 503, never "done".
 */
export class RevertService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly temporal: Client,
    private readonly tokenKeys: Parameters<typeof verifyRevertToken>[0],
  ) {}

  async inspect(token: unknown): Promise<RevertView> {
    const row = await this.windowOf(token);
    if (!row) return { kind: 'invalid' };
    const reader = { locale: row.locale, timeZone: row.timeZone };
    if (row.revertedAt) return { kind: 'already', ...reader };
    if (row.state !== 'APPROVED' || !row.oldEmail || !row.revertUntil || row.revertUntil.getTime() <= Date.now()) return { kind: 'closed', ...reader };
    return { kind: 'confirm', oldEmail: row.oldEmail, newEmail: row.newEmail, until: row.revertUntil.getTime(), ...reader };
  }

  /** The button: the workflow restores the account, or says why not (LINK_EXPIRED 410, INVALID_TOKEN 400, REVERT_REFUSED 409). */
  async revert(token: unknown): Promise<RevertResult> {
    const claims = verifyRevertToken(this.tokenKeys, token);
    const row = claims && (await this.windowOf(token));
    if (!claims || !row) throw new AppError(400, 'INVALID_TOKEN', 'This link is not valid');
    if (row.revertedAt) return { alreadyReverted: true, restoredEmail: row.oldEmail ?? '', blockedUntil: row.revertedAt.toISOString() };
    const handle = this.temporal.workflow.getHandle(workflowIdFor(row.userId));
    try {
      return await callTemporal(this.temporal, TEMPORAL_DEADLINE_MS, () => handle.executeUpdate(revertUpdate, { args: [{ changeId: claims.changeId, proof: proofOf(token as string) }] }));
    } catch (err) {
      const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === FailureType.revertRefused) throw new AppError(409, 'REVERT_REFUSED', cause.message);
      if (cause instanceof ApplicationFailure && cause.type === FailureType.invalidToken) throw new AppError(400, 'INVALID_TOKEN', 'This link is not valid');
      const reason = (cause instanceof ApplicationFailure && (cause.details?.[0] as { reason?: string } | undefined)?.reason) || 'expired';
      if (cause instanceof ApplicationFailure && cause.type === FailureType.linkExpired) throw new AppError(410, 'LINK_EXPIRED', cause.message, { reason });
      // No run holds the window (it ended, or an operator terminated it) or an older run has no `revert` handler.
      if (cause instanceof ApplicationFailure || err instanceof WorkflowNotFoundError || isClosedWorkflowError(err)) {
        const now = await this.windowOf(token);
        if (now?.revertedAt) return { alreadyReverted: true, restoredEmail: now.oldEmail ?? '', blockedUntil: now.revertedAt.toISOString() };
        throw new AppError(410, 'LINK_EXPIRED', 'The time to undo this change has passed', { reason: 'finished' });
      }
      throw err;
    }
  }

  /** The approved change an undo token names, with the verifier of the undo link mailed for it. */
  private async windowOf(token: unknown): Promise<WindowRow | undefined> {
    const claims = verifyRevertToken(this.tokenKeys, token);
    if (!claims) return undefined;
    const { rows } = await this.pool.query<WindowRow>(
      `SELECT r.user_id AS "userId", r.state, r.old_email AS "oldEmail", r.new_email AS "newEmail", r.revert_until AS "revertUntil",
         r.reverted_at AS "revertedAt", m.token_verifier AS verifier, u.locale, u.time_zone AS "timeZone"
       FROM email_change_requests r JOIN users u ON u.id = r.user_id
       LEFT JOIN mail_messages m ON m.message_key = r.id || ':notice'
       WHERE r.id = $1`,
      [claims.changeId],
    );
    const row = rows[0];
    return row && row.verifier === tokenVerifier(token as string) ? row : undefined;
  }
}

/** After an undo the account starts no email change until REVERT_LOCK passes or support lifts it (423 CHANGE_BLOCKED). */
export async function assertChangesAllowed(pool: pg.Pool, userId: string): Promise<void> {
  const { rows } = await pool.query<{ until: Date | null }>('SELECT email_change_blocked_until AS until FROM users WHERE id = $1 AND email_change_blocked_until > now()', [userId]);
  const until = rows[0]?.until;
  if (until) {
    throw new AppError(423, 'CHANGE_BLOCKED', 'Email changes on this account are paused after a change was undone from its previous address', { blockedUntil: until.toISOString() });
  }
}

/** Support lifts the block (`npm run change -- unblock <userId>`); answers whether there was one. */
export async function liftChangeBlock(pool: pg.Pool, userId: string): Promise<boolean> {
  const { rowCount } = await pool.query('UPDATE users SET email_change_blocked_until = NULL, updated_at = now() WHERE id = $1 AND email_change_blocked_until > now()', [userId]);
  return (rowCount ?? 0) > 0;
}
