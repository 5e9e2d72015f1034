import type pg from 'pg';
import { inTransaction } from '../db/pool';
import { UnknownUserError } from './export';

/** Why an erasure was refused: the user's email change flow still needs the addresses. */
export class ErasureRefusedError extends Error {}

export interface ErasureResult {
  userId: string;
  previousEmails: number;
  changeRequests: number;
  mails: number;
  idempotencyKeys: number;
  accountDeleted: boolean;
}

/** The old address's notice is retried for about 45 minutes after an approval (src/workflows: `notices`). */
const NOTICE_WINDOW = '1 hour';

/**
 * GDPR erasure of a user's address history (issue #10), in one transaction under the user's row
 * lock: previous addresses are deleted; change requests keep their facts (kind, state, dates) but
 * lose their addresses and delivery errors; mails keep kind and time but lose recipient and link
 * verifier; stored idempotent answers (which repeat addresses) are deleted. The account and its
 * current address stay unless `account` is set, which deletes the user row (everything cascades).
 *
 * Refused while a change is pending, or an approval's notice to the old address is still on its
 * way: the running workflow needs those addresses. The user can cancel; a pending change ends by
 * itself within EMAIL_CHANGE_TTL.
 */
export async function eraseAddressHistory(pool: pg.Pool, userId: string, opts: { account?: boolean } = {}): Promise<ErasureResult> {
  return inTransaction(pool, async (db) => {
    const user = await db.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
    if (user.rowCount === 0) throw new UnknownUserError(userId);
    const busy = await db.query<{ id: string; state: string }>(
      `SELECT r.id, r.state FROM email_change_requests r
       WHERE r.user_id = $1 AND (r.state = 'REQUESTED' OR (
         r.state = 'APPROVED' AND r.old_email IS NOT NULL AND r.completed_at > now() - $2::interval
         AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.change_id = r.id AND m.kind = 'notice' AND m.status = 'sent')))`,
      [userId, NOTICE_WINDOW],
    );
    if (busy.rows[0]) {
      const { id, state } = busy.rows[0];
      throw new ErasureRefusedError(
        state === 'REQUESTED'
          ? `change ${id} is pending: the user can cancel it, or it expires by itself; erase afterwards`
          : `change ${id} was just approved and its notice to the old address is not sent yet; try again later`,
      );
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
