import type pg from 'pg';
import { inTransaction } from '../db/pool';
import type { ChangeStateName, ChangeStatus, Delivery, Purpose } from '../workflows/messages';

/** The request rows (the seed's request model) and the outbox rows the API reads; the workflow's activities write them. */

export interface RequestRow {
  id: string;
  userId: string;
  state: ChangeStateName;
  kind: 'ADD' | 'UPDATE';
  newEmail: string;
  newEmailNormalized: string;
  oldEmail: string | null;
  needsOld: boolean;
  newConfirmedAt: Date | null;
  oldConfirmedAt: Date | null;
  createdAt: Date;
  expiresAt: Date;
  delivery: { new?: Delivery; old?: Delivery };
  reason: string | null;
}

const REQUEST_COLUMNS = `id, user_id AS "userId", state, kind, new_email AS "newEmail", new_email_normalized AS "newEmailNormalized", old_email AS "oldEmail",
  needs_old_confirmation AS "needsOld", new_confirmed_at AS "newConfirmedAt", old_confirmed_at AS "oldConfirmedAt",
  created_at AS "createdAt", expires_at AS "expiresAt", delivery, reason`;

export class RequestRows {
  constructor(private readonly pool: pg.Pool) {}

  async byId(changeId: string): Promise<RequestRow | undefined> {
    const { rows } = await this.pool.query<RequestRow>(`SELECT ${REQUEST_COLUMNS} FROM email_change_requests WHERE id = $1`, [changeId]);
    return rows[0];
  }

  /** The user's most recently recorded request, if any. */
  async current(userId: string): Promise<RequestRow | undefined> {
    const { rows } = await this.pool.query<RequestRow>(
      `SELECT ${REQUEST_COLUMNS} FROM email_change_requests WHERE id = (SELECT current_change_id FROM users WHERE id = $1)`,
      [userId],
    );
    return rows[0];
  }

  /**
   * Ends the user's other open requests as SUPERSEDED, if `stillCurrent()` — asked while holding the
   * user's row lock — says the run of `changeId` is the user's current one. Run by the new run's
   * recordRequest and, right after a start, by the API: whichever comes first; a newer run fences both.
   */
  async supersedeOthers(userId: string, changeId: string, stillCurrent: () => Promise<boolean>): Promise<boolean> {
    return inTransaction(this.pool, async (db) => {
      await db.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
      if (!(await stillCurrent())) return false;
      await db.query(
        `UPDATE email_change_requests SET state = 'SUPERSEDED', reason = 'a newer request replaced this one',
           completed_at = now(), updated_at = now()
         WHERE user_id = $1 AND state = 'REQUESTED' AND id <> $2`,
        [userId, changeId],
      );
      return true;
    });
  }

  /** The verifier of the latest link mailed for a purpose of a change (the only one a resend left working). */
  async latestVerifier(changeId: string, purpose: Purpose): Promise<string | null> {
    const { rows } = await this.pool.query<{ verifier: string | null }>(
      `SELECT token_verifier AS verifier FROM mail_messages WHERE change_id = $1 AND kind = $2 ORDER BY created_at DESC LIMIT 1`,
      [changeId, `verify-${purpose}`],
    );
    return rows[0]?.verifier ?? null;
  }
}

/** R-STATUS from a row (a finished request, or one whose run cannot be asked). */
export function rowStatus(row: RequestRow): ChangeStatus {
  return {
    id: row.id,
    state: row.state,
    kind: row.kind,
    newEmail: row.newEmail,
    oldEmail: row.oldEmail,
    confirmations: { new: row.newConfirmedAt !== null, old: row.needsOld ? row.oldConfirmedAt !== null : null },
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    linkExpiresAt: null,
    resendAvailableAt: null,
    resendsLeft: 0,
    delivery: { new: row.delivery.new ?? { status: 'pending', attempts: 0 }, ...(row.delivery.old ? { old: row.delivery.old } : {}) },
    reason: row.reason,
  };
}
