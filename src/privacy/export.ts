import type pg from 'pg';

/** Everything this service keeps about a user's addresses (GDPR access, issue #10): `npm run privacy -- export <userId>`. */
export interface AddressExport {
  userId: string;
  exportedAt: string;
  account: { username: string; email: string | null; emailVerified: boolean; emailVerifiedAt: string | null; createdAt: string };
  previousEmails: { email: string; wasVerified: boolean; replacedAt: string; changeRequestId: string | null }[];
  changeRequests: {
    id: string;
    kind: 'ADD' | 'UPDATE';
    state: string;
    reason: string | null;
    oldEmail: string | null;
    newEmail: string | null;
    createdAt: string;
    completedAt: string | null;
    erasedAt: string | null;
  }[];
  mails: { changeId: string; kind: string; recipient: string | null; status: string; sentAt: string | null }[];
}

export class UnknownUserError extends Error {
  constructor(userId: string) {
    super(`no user with id ${userId}`);
  }
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Reads the user's account email, address history, change requests and mail log in one snapshot. */
export async function exportAddressHistory(pool: pg.Pool, userId: string): Promise<AddressExport> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const account = await db.query(
      `SELECT username, email, email_verified AS "emailVerified", email_verified_at AS "emailVerifiedAt", created_at AS "createdAt"
       FROM users WHERE id = $1`,
      [userId],
    );
    const user = account.rows[0];
    if (!user) throw new UnknownUserError(userId);
    const history = await db.query(
      `SELECT email, was_verified AS "wasVerified", replaced_at AS "replacedAt", change_request_id AS "changeRequestId"
       FROM email_history WHERE user_id = $1 ORDER BY replaced_at, id`,
      [userId],
    );
    const requests = await db.query(
      `SELECT id, kind, state, reason, old_email AS "oldEmail", new_email AS "newEmail", created_at AS "createdAt",
              completed_at AS "completedAt", erased_at AS "erasedAt"
       FROM email_change_requests WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
    const mails = await db.query(
      `SELECT m.change_id AS "changeId", m.kind, m.recipient, m.status, m.sent_at AS "sentAt"
       FROM mail_messages m JOIN email_change_requests r ON r.id = m.change_id
       WHERE r.user_id = $1 ORDER BY m.created_at, m.message_key`,
      [userId],
    );
    await db.query('COMMIT');
    return {
      userId,
      exportedAt: new Date().toISOString(),
      account: { ...user, emailVerifiedAt: iso(user.emailVerifiedAt), createdAt: iso(user.createdAt)! },
      previousEmails: history.rows.map((h) => ({ ...h, replacedAt: iso(h.replacedAt)! })),
      changeRequests: requests.rows.map((r) => ({ ...r, createdAt: iso(r.createdAt)!, completedAt: iso(r.completedAt), erasedAt: iso(r.erasedAt) })),
      mails: mails.rows.map((m) => ({ ...m, sentAt: iso(m.sentAt) })),
    };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.release();
  }
}
