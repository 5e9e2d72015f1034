import type pg from 'pg';
import { inTransaction } from '../db/pool';
import { UnknownUserError } from './export';

/** What still needs the addresses when an erasure is refused. */
export type ErasureBusyReason = 'CHANGE_PENDING' | 'NOTICE_PENDING' | 'UNDO_WINDOW_OPEN' | 'UNDO_NOTICES_PENDING';

/** Why an erasure was refused: a run of the user's email change flow is still open and needs the addresses. */
export class ErasureRefusedError extends Error {
  constructor(
    message: string,
    readonly reason: ErasureBusyReason,
    readonly changeId: string,
    /** When the refusal ends by itself at the latest (the undo window's end), if known. */
    readonly until?: Date,
  ) {
    super(message);
    this.name = 'ErasureRefusedError';
  }
}

export interface ErasureResult {
  userId: string;
  previousEmails: number;
  changeRequests: number;
  mails: number;
  idempotencyKeys: number;
  accountDeleted: boolean;
}

/** The old address's notice, and the two mails after an undo, are retried for about 45 minutes (src/workflows: `notices`). */
const NOTICE_WINDOW = '1 hour';

/**
 * GDPR erasure of a user's address history (issue #10), in one transaction under the user's row
 * lock: previous addresses are deleted; change requests keep their facts (kind, state, dates) but
 * lose their addresses and delivery errors; mails keep kind and time but lose recipient and link
 * verifier; stored idempotent answers (which repeat addresses) are deleted. The account and its
 * current address stay unless `account` is set, which deletes the user row (everything cascades).
 *
 * Refused while a run of the user's flow is still open, since it needs those addresses and holds
 * them in its history, decryptable with the current payload key (so an erasure then would erase
 * nothing there): a change is pending (the user can cancel; it ends by itself within
 * EMAIL_CHANGE_TTL); an approval's notice to the old address is still on its way; an approved
 * change's undo window (issue #15, REVERT_WINDOW) is open, during which the run stays open and an
 * undo restores the old address from the request row; or an undo's two mails are on their way.
 * Each ends by itself; the refusal says when, if known.
 */
export async function eraseAddressHistory(pool: pg.Pool, userId: string, opts: { account?: boolean } = {}): Promise<ErasureResult> {
  return inTransaction(pool, async (db) => {
    const user = await db.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
    if (user.rowCount === 0) throw new UnknownUserError(userId);
    const busy = await db.query<{ id: string; reason: ErasureBusyReason; until: Date | null }>(
      `SELECT id, reason, until FROM (
         SELECT r.id,
           CASE
             WHEN r.state = 'REQUESTED' THEN 'CHANGE_PENDING'
             WHEN r.state = 'APPROVED' AND r.old_email IS NOT NULL AND r.completed_at > now() - $2::interval
               AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.change_id = r.id AND m.kind = 'notice' AND m.status = 'sent') THEN 'NOTICE_PENDING'
             WHEN r.state = 'APPROVED' AND r.reverted_at IS NULL AND r.revert_until > now() THEN 'UNDO_WINDOW_OPEN'
             WHEN r.reverted_at > now() - $2::interval
               AND (SELECT count(*) FROM mail_messages m WHERE m.change_id = r.id AND m.kind IN ('reverted-old', 'reverted-new') AND m.status = 'sent') < 2 THEN 'UNDO_NOTICES_PENDING'
           END AS reason,
           CASE WHEN r.reverted_at IS NULL THEN r.revert_until END AS until
         FROM email_change_requests r WHERE r.user_id = $1
       ) busy
       WHERE reason IS NOT NULL
       ORDER BY array_position(ARRAY['CHANGE_PENDING', 'NOTICE_PENDING', 'UNDO_WINDOW_OPEN', 'UNDO_NOTICES_PENDING'], reason), until DESC NULLS LAST
       LIMIT 1`,
      [userId, NOTICE_WINDOW],
    );
    if (busy.rows[0]) {
      const { id, reason, until } = busy.rows[0];
      throw new ErasureRefusedError(refusal(id, reason, until), reason, id, reason === 'UNDO_WINDOW_OPEN' && until ? until : undefined);
    }

    const mails = await db.query(
      `UPDATE mail_messages SET recipient = NULL, token_verifier = NULL, token_sealed = NULL
       WHERE change_id IN (SELECT id FROM email_change_requests WHERE user_id = $1) AND recipient IS NOT NULL`,
      [userId],
    );
    const requests = await db.query(
      `UPDATE email_change_requests SET old_email = NULL, new_email = NULL, new_email_normalized = NULL, erased_at = now(), updated_at = now(),
         delivery = COALESCE((SELECT jsonb_object_agg(purpose, d - 'lastError') FROM jsonb_each(delivery) AS e(purpose, d)), '{}'::jsonb)
       WHERE user_id = $1 AND erased_at IS NULL`,
      [userId],
    );
    const history = await db.query('DELETE FROM email_history WHERE user_id = $1', [userId]);
    const answers = await db.query('DELETE FROM idempotency_keys WHERE user_id = $1', [userId]);
    if (opts.account) await db.query('DELETE FROM users WHERE id = $1', [userId]);
    return {
      userId,
      previousEmails: history.rowCount ?? 0,
      changeRequests: requests.rowCount ?? 0,
      mails: mails.rowCount ?? 0,
      idempotencyKeys: answers.rowCount ?? 0,
      accountDeleted: opts.account === true,
    };
  });
}

function refusal(id: string, reason: ErasureBusyReason, until: Date | null): string {
  switch (reason) {
    case 'CHANGE_PENDING':
      return `change ${id} is pending: the user can cancel it, or it expires by itself; erase afterwards`;
    case 'NOTICE_PENDING':
      return `change ${id} was just approved and its notice to the old address is not sent yet; try again later`;
    case 'UNDO_WINDOW_OPEN':
      return (
        `change ${id} was approved and its undo window is open until ${until!.toISOString()} ("this wasn't me" link to the old address): ` +
        `its workflow run stays open until then, holding both addresses (readable with the current payload key), and an undo needs them; erase after ${until!.toISOString()}`
      );
    case 'UNDO_NOTICES_PENDING':
      return `change ${id} was just undone and the mails telling both addresses are not sent yet; try again later`;
  }
}
