import { ApplicationFailure } from '@temporalio/activity';
import type pg from 'pg';
import type { ActivityDeps } from './index';
import { inTransaction } from '../db/pool';
import { parseEmailAddress } from '../email-address';
import { createLinkToken, sealToken, tokenVerifier, type TokenKeys } from '../tokens';
import { lapsedNotice, revertedMail } from '../mail/templates';
import { readerFrom } from '../mail/reader';
import { Localizer } from '../i18n';
import { FailureType, type OpenRevertWindow, type RevertResult } from '../workflows/messages';
import { sendOnceWith } from './send-once';

/** What a pending request's row says when an undo of the account ended it. */
export const ENDED_BY_REVERT = 'the account was restored to its previous address';

/** Issue #15 item 5: every session of the user but `keepSessionId` ends (in the caller's transaction). */
export async function revokeOtherSessions(db: Pick<pg.PoolClient, 'query'>, userId: string, keepSessionId: string | null): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM sessions WHERE user_id = $1 AND ($2::uuid IS NULL OR id <> $2::uuid)', [userId, keepSessionId]);
  return rowCount ?? 0;
}

/** The message key of an approved change's notice to its old address (the undo link rides in it). */
export const noticeKey = (changeId: string) => `${changeId}:notice`;

/** Issue #15 items 4 and 6: the undo of an approved change, and the mails around the request's end. */
export function createRevertActivities({ config, pool, mail }: ActivityDeps) {
  const localizer = new Localizer(config.branding);
  const sendOnce = sendOnceWith(config, pool, mail);

  return {
    /**
     * Makes the undo link for an approved change's old address and records its window; the token waits
     * sealed in the notice's outbox row (sendChangedNotice mails it). None for an account under an undo's block.
     */
    async prepareRevertLink(args: { changeId: string; userId: string; until: number }): Promise<{ verifier: string } | null> {
      return inTransaction(pool, (db) => prepareRevertLinkIn(db, config.tokenKeys, args.changeId, args.until));
    },

    /** The user's other approved changes whose undo window is still open (the run a new start terminated held them). */
    async openRevertWindows(args: { userId: string; changeId: string }): Promise<OpenRevertWindow[]> {
      return openRevertWindowsOf(pool, args.userId, args.changeId);
    },

    /**
     * "This wasn't me", in one transaction: the change's old address is the account's verified address
     * again, every session and device key of the account is revoked, further email changes are blocked
     * for `lockMs`, every other undo window closes and a pending request ends. A retry finds it done.
     */
    async revertEmailChange(args: { changeId: string; userId: string; lockMs: number }): Promise<RevertResult> {
      try {
        return await inTransaction(pool, async (db) => {
          const { rows } = await db.query<{ oldEmail: string | null; state: string; revertedAt: Date | null; blockedUntil: Date | null }>(
            `SELECT r.old_email AS "oldEmail", r.state, r.reverted_at AS "revertedAt", u.email_change_blocked_until AS "blockedUntil"
             FROM email_change_requests r JOIN users u ON u.id = r.user_id WHERE r.id = $1 AND r.user_id = $2 FOR UPDATE`,
            [args.changeId, args.userId],
          );
          const row = rows[0];
          if (!row?.oldEmail || row.state !== 'APPROVED') throw ApplicationFailure.nonRetryable('This change cannot be undone', FailureType.revertRefused);
          if (row.revertedAt) return { alreadyReverted: true, restoredEmail: row.oldEmail, blockedUntil: (row.blockedUntil ?? row.revertedAt).toISOString() };

          const old = parseEmailAddress(row.oldEmail);
          if (!old) throw ApplicationFailure.nonRetryable('The previous address cannot be restored', FailureType.revertRefused);
          const taken = await db.query('SELECT 1 FROM users WHERE lower(email_normalized) = $1 AND email_verified AND id <> $2', [old.normalized, args.userId]);
          if ((taken.rowCount ?? 0) > 0) {
            throw ApplicationFailure.nonRetryable('The previous address now belongs to another account; contact support', FailureType.revertRefused);
          }
          // Held unverified elsewhere: it moves back here, as in applyEmailChange.
          await db.query('UPDATE users SET email = NULL, email_normalized = NULL, updated_at = now() WHERE lower(email_normalized) = $1 AND NOT email_verified AND id <> $2', [
            old.normalized,
            args.userId,
          ]);
          const current = await db.query<{ email: string | null; normalized: string | null; verified: boolean }>(
            'SELECT email, email_normalized AS normalized, email_verified AS verified FROM users WHERE id = $1',
            [args.userId],
          );
          const now = current.rows[0];
          if (now?.email && now.normalized !== old.normalized) {
            await db.query('INSERT INTO email_history (user_id, email, was_verified, change_request_id) VALUES ($1, $2, $3, $4)', [args.userId, now.email, now.verified, args.changeId]);
          }
          const blocked = await db.query<{ until: Date }>(
            `UPDATE users SET email = $2, email_normalized = $3, email_verified = true, email_verified_at = now(),
               email_change_blocked_until = now() + make_interval(secs => $4::double precision / 1000), updated_at = now()
             WHERE id = $1 RETURNING email_change_blocked_until AS until`,
            [args.userId, old.address, old.normalized, args.lockMs],
          );
          await revokeOtherSessions(db, args.userId, null);
          await db.query('UPDATE devices SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [args.userId]);
          await db.query(
            `UPDATE email_change_requests SET reverted_at = now(), revert_until = now(), reason = 'REVERTED: undone from the previous address', updated_at = now() WHERE id = $1`,
            [args.changeId],
          );
          await db.query('UPDATE email_change_requests SET revert_until = now(), updated_at = now() WHERE user_id = $1 AND id <> $2 AND revert_until > now()', [
            args.userId,
            args.changeId,
          ]);
          await db.query(
            `UPDATE email_change_requests SET state = 'CANCELLED', reason = $2, completed_at = now(), updated_at = now() WHERE user_id = $1 AND state = 'REQUESTED'`,
            [args.userId, ENDED_BY_REVERT],
          );
          return { alreadyReverted: false, restoredEmail: old.address, blockedUntil: blocked.rows[0]!.until.toISOString() };
        });
      } catch (err) {
        // Another account verified the previous address in a concurrent transaction: the unique index decides.
        if ((err as { constraint?: string }).constraint === 'users_verified_email_key') {
          throw ApplicationFailure.nonRetryable('The previous address now belongs to another account; contact support', FailureType.revertRefused);
        }
        throw err;
      }
    },

    /** After an undo: both addresses of the change hear of it (each mail once). */
    async sendRevertedNotices(args: { changeId: string }): Promise<void> {
      const { rows } = await pool.query<{ userId: string; oldEmail: string; newEmail: string; revertedAt: Date; blockedUntil: Date | null }>(
        `SELECT r.user_id AS "userId", r.old_email AS "oldEmail", r.new_email AS "newEmail", r.reverted_at AS "revertedAt", u.email_change_blocked_until AS "blockedUntil"
         FROM email_change_requests r JOIN users u ON u.id = r.user_id WHERE r.id = $1 AND r.reverted_at IS NOT NULL`,
        [args.changeId],
      );
      const row = rows[0];
      if (!row) throw ApplicationFailure.nonRetryable(`change ${args.changeId} was not undone`, 'NO_NOTICE_NEEDED');
      const facts = { restoredEmail: row.oldEmail, removedEmail: row.newEmail, at: row.revertedAt.getTime(), blockedUntil: row.blockedUntil?.getTime() ?? null };
      for (const to of ['old', 'new'] as const) {
        const key = `${args.changeId}:reverted-${to}`;
        const recipient = to === 'old' ? row.oldEmail : row.newEmail;
        await pool.query(`INSERT INTO mail_messages (message_key, change_id, kind, recipient) VALUES ($1, $2, $3, $4) ON CONFLICT (message_key) DO NOTHING`, [
          key,
          args.changeId,
          `reverted-${to}`,
          recipient,
        ]);
        await sendOnce(key, row.userId, (claimed) => revertedMail(localizer, readerFrom(localizer, claimed), { to, ...facts }));
      }
    },

    /** Issue #15 item 6: an EXPIRED request's new address hears that it lapsed (once). */
    async sendLapsedNotice(args: { changeId: string }): Promise<{ sentAt: string } | null> {
      const { rows } = await pool.query<{ userId: string; newEmail: string; expiresAt: Date }>(
        `SELECT user_id AS "userId", new_email AS "newEmail", expires_at AS "expiresAt" FROM email_change_requests WHERE id = $1 AND state = 'EXPIRED'`,
        [args.changeId],
      );
      const row = rows[0];
      if (!row) return null; // not expired after all (a race recorded another outcome): nothing to tell
      const key = `${args.changeId}:lapsed`;
      await pool.query(`INSERT INTO mail_messages (message_key, change_id, kind, recipient) VALUES ($1, $2, 'lapsed', $3) ON CONFLICT (message_key) DO NOTHING`, [
        key,
        args.changeId,
        row.newEmail,
      ]);
      return sendOnce(key, row.userId, (claimed) => lapsedNotice(localizer, readerFrom(localizer, claimed), { newEmail: row.newEmail, expiredAt: row.expiresAt.getTime() }));
    },
  };
}

/** The user's other approved changes whose undo window is still open (the run a new start terminated held them). */
export async function openRevertWindowsOf(pool: pg.Pool, userId: string, changeId: string): Promise<OpenRevertWindow[]> {
  const { rows } = await pool.query<{ changeId: string; verifier: string; until: Date }>(
    `SELECT r.id AS "changeId", m.token_verifier AS verifier, r.revert_until AS until
     FROM email_change_requests r JOIN mail_messages m ON m.message_key = r.id || ':notice'
     WHERE r.user_id = $1 AND r.id <> $2 AND r.state = 'APPROVED' AND r.reverted_at IS NULL
       AND r.revert_until > now() AND m.token_verifier IS NOT NULL`,
    [userId, changeId],
  );
  return rows.map((r) => ({ changeId: r.changeId, verifier: r.verifier, until: r.until.getTime() }));
}

/** prepareRevertLink in the caller's transaction (shape 3's applyEmailChange makes it with the approval). */
export async function prepareRevertLinkIn(db: Pick<pg.PoolClient, 'query'>, keys: TokenKeys, changeId: string, until: number): Promise<{ verifier: string } | null> {
  const { rows } = await db.query<{ oldEmail: string | null; blocked: boolean }>(
    `SELECT r.old_email AS "oldEmail", coalesce(u.email_change_blocked_until > now(), false) AS blocked
     FROM email_change_requests r JOIN users u ON u.id = r.user_id WHERE r.id = $1 AND r.state = 'APPROVED' FOR UPDATE OF r`,
    [changeId],
  );
  const row = rows[0];
  if (!row?.oldEmail || row.blocked) return null;
  const key = noticeKey(changeId);
  const token = createLinkToken(keys, { changeId, purpose: 'revert', expiresAt: until });
  // Made, or found as a retry's earlier try made it (the request row's lock keeps tries apart), in one round trip.
  const verifier = await db.query<{ verifier: string | null }>(
    `WITH made AS (
       INSERT INTO mail_messages (message_key, change_id, kind, recipient, token_verifier, token_sealed, link_expires_at)
       VALUES ($1, $2, 'notice', $3, $4, $5, $6) ON CONFLICT (message_key) DO NOTHING RETURNING token_verifier AS verifier)
     SELECT verifier FROM made UNION ALL SELECT token_verifier FROM mail_messages WHERE message_key = $1 AND NOT EXISTS (SELECT 1 FROM made)`,
    [key, changeId, row.oldEmail, tokenVerifier(token), sealToken(keys, token, key), new Date(until)],
  );
  await db.query('UPDATE email_change_requests SET revert_until = coalesce(revert_until, $2), updated_at = now() WHERE id = $1', [changeId, new Date(until)]);
  return verifier.rows[0]?.verifier ? { verifier: verifier.rows[0].verifier } : null;
}
