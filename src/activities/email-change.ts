import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './index';
import { sendOnceWith } from './send-once';
import { inTransaction } from '../db/pool';
import { createLinkToken, sealToken, tokenVerifier, unsealToken } from '../tokens';
import { changedNotice, verificationMail } from '../mail/templates';
import { readerFrom } from '../mail/reader';
import { Localizer } from '../i18n';
import {
  DeclineCode,
  messageKeyOf,
  type ChangeKind,
  type ChangeStateName,
  type Delivery,
  type EmailChangeInput,
  type PreparedLink,
  type Purpose,
  type RecordedRequest,
  type SendOutcome,
  type StartedRequest,
} from '../workflows/messages';
import { isLatestRun, supersedeOpenRequests } from '../email-change/requests';
import { sealedWithCode, unsealedWithCode } from '../verification-codes';
import { newDistinctCode } from './typed-code';
import { noticeKey, openRevertWindowsOf, prepareRevertLinkIn, revokeOtherSessions } from './revert';

export interface Progress {
  newConfirmedAt: number | null;
  oldConfirmedAt: number | null;
  resends: number;
  delivery: { new: Delivery; old?: Delivery };
}

export interface PrepareLinkArgs {
  messageKey: string;
  changeId: string;
  purpose: Purpose;
  to: string;
  linkTtlMs: number;
  resends?: number;
  lastSendAt?: number;
  code?: boolean;
}

const toDate = (ms: number | null) => (ms === null ? null : new Date(ms));

/** The email-change activities: every one idempotent, so a retry finds its earlier effect. */
export function createEmailChangeActivities({ config, pool, mail, temporal }: ActivityDeps) {
  const linkFor = (token: string) => `${config.publicBaseUrl}/verify-email?token=${token}`;
  // Issue #15: mail in the account's language, with the app's name (TEMPLATES_DIR read once, here).
  const localizer = new Localizer(config.branding);

  const sendOnce = sendOnceWith(config, pool, mail);

  /**
   * R-START: records the request, unless a newer run of the user's workflow replaced this one
   * (Temporal says which run is current: an activity of a terminated run may still be running).
   * ADD or UPDATE, and whether the old address must confirm, are decided here under the row lock.
   */
  async function recordRequest(input: EmailChangeInput, runStartedAt?: number): Promise<RecordedRequest> {
    const { workflowId, runId } = Context.current().info.workflowExecution!;
    return inTransaction(pool, async (db) => {
      const { rows } = await db.query<{ email: string | null; verified: boolean }>(
        'SELECT email, email_verified AS verified FROM users WHERE id = $1 FOR UPDATE',
        [input.userId],
      );
      const user = rows[0];
      if (!user) throw ApplicationFailure.nonRetryable(`no user ${input.userId}`, 'USER_NOT_FOUND');
      const existing = await db.query<{ state: ChangeStateName; kind: ChangeKind; oldEmail: string | null; confirmOld: boolean }>(
        `SELECT state, kind, old_email AS "oldEmail", needs_old_confirmation AS "confirmOld" FROM email_change_requests WHERE id = $1`,
        [input.changeId],
      );
      const earlier = existing.rows[0];
      if (earlier) {
        // A retry of this activity: the first try's decision stands.
        return { recorded: earlier.state === 'REQUESTED', kind: earlier.kind, oldEmail: earlier.oldEmail, oldEmailVerified: earlier.kind === 'UPDATE', confirmOld: earlier.confirmOld };
      }
      // Decided while holding the row lock: a run started after this answer records after this transaction, superseding it.
      const current = await isLatestRun(db, input.userId, runStartedAt, async () => (await temporal!.workflow.getHandle(workflowId).describe()).runId === runId);
      const decided: RecordedRequest = {
        recorded: current,
        kind: user.verified ? 'UPDATE' : 'ADD',
        oldEmail: user.email,
        oldEmailVerified: user.verified,
        confirmOld: user.verified && input.policy.confirmOldEmail,
      };
      if (current) {
        await supersedeOpenRequests(db, input.userId, input.changeId);
        await db.query('UPDATE users SET current_change_id = $2 WHERE id = $1', [input.userId, input.changeId]);
      }
      await db.query(
        `INSERT INTO email_change_requests
           (id, user_id, workflow_id, kind, old_email, new_email, new_email_normalized, needs_old_confirmation,
            state, reason, expires_at, created_at, completed_at, last_send_at, resend_cooldown_ms, max_resends, run_started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $14, $15, $16)`,
        [
          input.changeId,
          input.userId,
          workflowId,
          decided.kind,
          decided.oldEmail,
          input.newEmail,
          input.newEmailNormalized,
          decided.confirmOld,
          current ? 'REQUESTED' : 'SUPERSEDED',
          current ? null : 'a newer request replaced this one',
          new Date(input.requestedAt + input.policy.changeTtlMs),
          new Date(input.requestedAt),
          current ? null : new Date(),
          input.policy.resendCooldownMs,
          input.policy.maxResends,
          toDate(runStartedAt ?? null),
        ],
      );
      return decided;
    });
  }

  /**
   * R-TOKEN: makes a link with a random nonce, fixes its expiry and returns only its verifier; the
   * token waits sealed in the outbox row until its mail is sent (a retried send mails the same link).
   */
  async function prepareVerificationLink(args: PrepareLinkArgs, codesTaken?: string[]): Promise<PreparedLink> {
    const expiresAt = Date.now() + args.linkTtlMs;
    const token = createLinkToken(config.tokenKeys, { changeId: args.changeId, purpose: args.purpose, expiresAt });
    // Issue #15 item 7: the typed code, sealed with the token until the mail is sent; only its keyed verifier stays.
    const code = args.code ? await newDistinctCode(pool, config.tokenKeys, args.changeId, codesTaken) : undefined;
    type Row = { verifier: string; linkExpiresAt: Date; codeVerifier: string | null };
    const columns = 'token_verifier AS verifier, link_expires_at AS "linkExpiresAt", code_verifier AS "codeVerifier"';
    // A retry finds the link its earlier try made (the first one stands); made or found in one round trip (issue #12).
    let { rows } = await pool.query<Row>(
      `WITH made AS (
         INSERT INTO mail_messages (message_key, change_id, kind, recipient, token_verifier, token_sealed, link_expires_at, code_verifier)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_key) DO NOTHING RETURNING ${columns})
       SELECT * FROM made UNION ALL SELECT ${columns} FROM mail_messages WHERE message_key = $1 AND NOT EXISTS (SELECT 1 FROM made)`,
      [
        args.messageKey,
        args.changeId,
        `verify-${args.purpose}`,
        args.to,
        tokenVerifier(token),
        sealToken(config.tokenKeys, sealedWithCode(token, code?.code), args.messageKey),
        new Date(expiresAt),
        code?.verifier ?? null,
      ],
    );
    // The earlier try's row was committed after this statement's snapshot (tries overlapping): read it now.
    if (!rows[0]) ({ rows } = await pool.query<Row>(`SELECT ${columns} FROM mail_messages WHERE message_key = $1`, [args.messageKey]));
    if (args.resends) {
      // A resend: the status row's resend count and cooldown follow.
      await pool.query(
        `UPDATE email_change_requests SET resends = greatest(resends, $2), last_send_at = greatest(last_send_at, $3), updated_at = now() WHERE id = $1 AND state = 'REQUESTED'`,
        [args.changeId, args.resends, new Date(args.lastSendAt!)],
      );
    }
    return { verifier: rows[0]!.verifier, linkExpiresAt: rows[0]!.linkExpiresAt.getTime(), ...(args.code ? { codeVerifier: rows[0]!.codeVerifier } : {}) };
  }

  /** R-MAIL: mails the prepared link once; a retry after a successful send sends nothing. */
  async function sendVerificationMail(args: { messageKey: string; input: EmailChangeInput; kind?: ChangeKind; purpose: Purpose; lastTry?: boolean; reminder?: boolean }) {
    // The prepared link and the reader's language come with the send's claim (issue #12: one round trip).
    return sendOnce(args.messageKey, args.input.userId, (prepared) => {
      if (!prepared.sealed || !prepared.linkExpiresAt) throw ApplicationFailure.nonRetryable(`the link of ${args.messageKey} is gone`, 'MAIL_NOT_PREPARED');
      const { token, code } = unsealedWithCode(unsealToken(config.tokenKeys, prepared.sealed, args.messageKey));
      return verificationMail(localizer, readerFrom(localizer, prepared), {
        purpose: args.purpose,
        kind: args.kind ?? args.input.kind,
        newEmail: args.input.newEmail,
        link: linkFor(token),
        code,
        linkExpiresAt: prepared.linkExpiresAt.getTime(),
        requestedAt: args.input.requestedAt,
        requestedBy: args.input.requestedBy,
        reminder: args.reminder,
        requestExpiresAt: args.input.requestedAt + args.input.policy.changeTtlMs,
      });
    }, args.lastTry);
  }

  return {
    recordRequest,
    prepareVerificationLink,

    /**
     * Shape 3 (issue #12): the run's first step in one local activity: the request recorded, then, if
     * this run is the user's latest, the first link of each address that must confirm prepared and the
     * user's open undo windows found. Each part is idempotent, so a retry finds what a try did.
     */
    async startRequest(input: EmailChangeInput, runStartedAt: number, opts: { code: boolean; windows: boolean }): Promise<StartedRequest> {
      const recorded = await recordRequest(input, runStartedAt);
      if (!recorded.recorded) return { ...recorded, links: {}, openWindows: [] };
      const { changeId, policy } = input;
      const prepare = (purpose: Purpose, to: string, codesTaken: string[]) =>
        prepareVerificationLink({ messageKey: messageKeyOf(changeId, purpose, 1), changeId, purpose, to, linkTtlMs: policy.linkTtlMs, ...(opts.code ? { code: true } : {}) }, codesTaken);
      const needsOld = recorded.confirmOld && recorded.oldEmail !== null;
      // One after the other: the old address's typed code is then drawn knowing the new one's. A change's
      // first links are its only ones, so no query for codes taken (a retry finds both links made).
      const newLink = await prepare('new', input.newEmail, []);
      const oldLink = needsOld ? await prepare('old', recorded.oldEmail!, newLink.codeVerifier ? [newLink.codeVerifier] : []) : undefined;
      const openWindows = opts.windows ? await openRevertWindowsOf(pool, input.userId, changeId) : [];
      return { ...recorded, links: { new: newLink, ...(oldLink ? { old: oldLink } : {}) }, openWindows };
    },

    sendVerificationMail,

    /**
     * Shape 4 (issue #12): a change's two mails in one activity whenever both go out (the start, a
     * resend, the reminder): one activity task and one workflow task less each time. Each mail is sent
     * as sendVerificationMail sends it and its outcome comes back on its own, so the run retries only
     * the mail that failed; the activity itself never fails for a mail.
     */
    async sendVerificationMails(args: { input: EmailChangeInput; kind?: ChangeKind; mails: { messageKey: string; purpose: Purpose; reminder?: boolean }[] }): Promise<SendOutcome[]> {
      return Promise.all(
        args.mails.map(({ messageKey, purpose, reminder }) =>
          sendVerificationMail({ messageKey, purpose, input: args.input, ...(args.kind ? { kind: args.kind } : {}), ...(reminder ? { reminder } : {}) }).then(
            ({ sentAt }): SendOutcome => ({ sentAt }),
            (err: unknown): SendOutcome => ({ error: err instanceof Error ? err.message : String(err), nonRetryable: err instanceof ApplicationFailure && err.nonRetryable === true }),
          ),
        ),
      );
    },

    /** A confirmation that is not the last one, in the status row (the last one goes with the outcome). */
    async recordConfirmation(args: { changeId: string; purpose: Purpose; confirmedAt: number }): Promise<void> {
      await pool.query(
        `UPDATE email_change_requests SET ${args.purpose === 'new' ? 'new_confirmed_at' : 'old_confirmed_at'} = $2, updated_at = now() WHERE id = $1 AND state = 'REQUESTED'`,
        [args.changeId, new Date(args.confirmedAt)],
      );
    },

    /** R-VERIFY + R-CONFLICT in one transaction: the address moves here, or the request is declined. */
    async applyEmailChange(args: {
      changeId: string;
      userId: string;
      progress: Progress;
      revokeSessions?: { keepSessionId: string | null };
      /** Shape 3: the undo window's end; the undo link is made in the approval's transaction (no second local activity). */
      revertUntil?: number;
    }): Promise<{ state: ChangeStateName; reason: string | null; revert?: { verifier: string } | null }> {
      const finalColumns = [toDate(args.progress.newConfirmedAt), toDate(args.progress.oldConfirmedAt), args.progress.resends, JSON.stringify(args.progress.delivery)];
      try {
        return await inTransaction(pool, async (db) => {
          const req = await db.query<{ state: ChangeStateName; reason: string | null; newEmail: string; normalized: string; kind: ChangeKind; oldEmail: string | null; needsOld: boolean }>(
            `SELECT state, reason, new_email AS "newEmail", new_email_normalized AS normalized, kind, old_email AS "oldEmail",
               needs_old_confirmation AS "needsOld"
             FROM email_change_requests WHERE id = $1 FOR UPDATE`,
            [args.changeId],
          );
          const request = req.rows[0];
          if (!request) throw ApplicationFailure.nonRetryable(`no request ${args.changeId}`, 'REQUEST_NOT_FOUND');
          if (request.state !== 'REQUESTED') {
            // A retry after a try that committed: the undo link that try made (the same one) comes back with its answer.
            const revert = request.state === 'APPROVED' && args.revertUntil !== undefined ? { revert: await prepareRevertLinkIn(db, config.tokenKeys, args.changeId, args.revertUntil) } : {};
            return { state: request.state, reason: request.reason, ...revert };
          }

          // The account locked and R-CONFLICT's question asked in one round trip (issue #12); should another account
          // verify the address after this statement's snapshot, the unique index refuses our update below.
          const user = await db.query<{ email: string | null; normalized: string | null; verified: boolean; taken: boolean }>(
            `SELECT email, email_normalized AS normalized, email_verified AS verified,
               EXISTS (SELECT 1 FROM users o WHERE lower(o.email_normalized) = $2 AND o.email_verified AND o.id <> $1) AS taken
             FROM users WHERE id = $1 FOR UPDATE`,
            [args.userId, request.normalized],
          );
          // R-OLD: the account's address must still be what it was when the request was recorded, and confirmed if required.
          const now = user.rows[0];
          const moved = request.kind === 'ADD' ? Boolean(now?.verified) : !now?.verified || now.email !== request.oldEmail;
          if (moved || (request.needsOld && args.progress.oldConfirmedAt === null)) {
            return decline(db, args.changeId, finalColumns, args.progress, `${DeclineCode.accountEmailChanged}: the account's email address changed while this request was open`);
          }
          if (now?.taken) return decline(db, args.changeId, finalColumns, args.progress);

          // An address held only unverified elsewhere moves here; that account keeps it in its history.
          const holders = await db.query<{ id: string; email: string }>(
            `UPDATE users u SET email = NULL, email_normalized = NULL, updated_at = now()
             FROM users old WHERE old.id = u.id AND lower(u.email_normalized) = $1 AND NOT u.email_verified AND u.id <> $2
             RETURNING u.id, old.email`,
            [request.normalized, args.userId],
          );
          for (const holder of holders.rows) {
            await db.query('INSERT INTO email_history (user_id, email, was_verified, change_request_id) VALUES ($1, $2, false, $3)', [holder.id, holder.email, args.changeId]);
          }
          const previous = user.rows[0];
          // Verifying the address already on file (given at sign-up) replaces nothing.
          if (previous?.email && previous.normalized !== request.normalized) {
            await db.query('INSERT INTO email_history (user_id, email, was_verified, change_request_id) VALUES ($1, $2, $3, $4)', [args.userId, previous.email, previous.verified, args.changeId]);
          }
          await db.query(
            `UPDATE users SET email = $2, email_normalized = $3, email_verified = true, email_verified_at = now(), updated_at = now()
             WHERE id = $1`,
            [args.userId, request.newEmail, request.normalized],
          );
          // Issue #15 item 5: in the same transaction, so no other session outlives the change.
          if (args.revokeSessions) await revokeOtherSessions(db, args.userId, args.revokeSessions.keepSessionId);
          await db.query(
            `UPDATE email_change_requests SET state = 'APPROVED', reason = NULL, completed_at = now(), updated_at = now(),
               new_confirmed_at = $2, old_confirmed_at = $3, resends = $4, delivery = $5 WHERE id = $1`,
            [args.changeId, ...finalColumns],
          );
          await recordConfirmedMailsSent(db, args.changeId, args.progress);
          const revert = args.revertUntil === undefined ? {} : { revert: await prepareRevertLinkIn(db, config.tokenKeys, args.changeId, args.revertUntil) };
          return { state: 'APPROVED' as const, reason: null, ...revert };
        });
      } catch (err) {
        // Another account verified the address in a concurrent transaction: the unique index decides.
        if ((err as { constraint?: string }).constraint === 'users_verified_email_key') return decline(pool, args.changeId, finalColumns, args.progress);
        throw err;
      }
    },

    /** Records a final state other than APPROVED; a request already final keeps its state. */
    /** A send the workflow gave up without trying (its link expired first): the status row says failed, and why. */
    async recordMailGivenUp(args: { messageKey: string; reason: string }): Promise<void> {
      await pool.query(`UPDATE mail_messages SET status = 'failed', last_error = $2, token_sealed = NULL WHERE message_key = $1 AND status <> 'sent'`, [args.messageKey, args.reason]);
    },

    async markFinished(args: { changeId: string; state: ChangeStateName; reason: string; progress: Progress }): Promise<{ state: ChangeStateName; reason: string | null }> {
      const { rows } = await pool.query<{ state: ChangeStateName; reason: string | null }>(
        `UPDATE email_change_requests SET state = $2, reason = $3, completed_at = now(), updated_at = now(),
           new_confirmed_at = $4, old_confirmed_at = $5, resends = $6, delivery = $7
         WHERE id = $1 AND state = 'REQUESTED' RETURNING state, reason`,
        [args.changeId, args.state, args.reason, toDate(args.progress.newConfirmedAt), toDate(args.progress.oldConfirmedAt), args.progress.resends, JSON.stringify(args.progress.delivery)],
      );
      if (rows[0]) {
        await recordConfirmedMailsSent(pool, args.changeId, args.progress);
        return rows[0];
      }
      const current = await pool.query<{ state: ChangeStateName; reason: string | null }>('SELECT state, reason FROM email_change_requests WHERE id = $1', [args.changeId]);
      return current.rows[0] ?? { state: args.state, reason: args.reason };
    },

    /** R-OLD: tells the old address its account email changed; once per change. */
    async sendChangedNotice(args: { changeId: string }): Promise<{ sentAt: string }> {
      const { rows } = await pool.query<{ oldEmail: string; newEmail: string; completedAt: Date; userId: string }>(
        `SELECT old_email AS "oldEmail", new_email AS "newEmail", completed_at AS "completedAt", user_id AS "userId"
         FROM email_change_requests WHERE id = $1 AND state = 'APPROVED'`,
        [args.changeId],
      );
      const request = rows[0];
      if (!request?.oldEmail) throw ApplicationFailure.nonRetryable('no approved change with an old address', 'NO_NOTICE_NEEDED');
      const messageKey = noticeKey(args.changeId);
      const prepared = await pool.query<{ sealed: Buffer | null; until: Date | null }>(
        `INSERT INTO mail_messages (message_key, change_id, kind, recipient) VALUES ($1, $2, 'notice', $3)
         ON CONFLICT (message_key) DO UPDATE SET kind = excluded.kind RETURNING token_sealed AS sealed, link_expires_at AS until`,
        [messageKey, args.changeId, request.oldEmail],
      );
      // Issue #15 item 4: the undo link prepareRevertLink sealed into this row, when the change has a window.
      const { sealed, until } = prepared.rows[0]!;
      const undo = sealed && until ? { link: `${config.publicBaseUrl}/undo-email-change?token=${unsealToken(config.tokenKeys, sealed, messageKey)}`, until: until.getTime() } : undefined;
      return sendOnce(messageKey, request.userId, (claimed) =>
        changedNotice(localizer, readerFrom(localizer, claimed), { newEmail: request.newEmail, changedAt: request.completedAt.getTime(), undo }),
      );
    },
  };
}

async function decline(
  db: { query: (text: string, values: unknown[]) => Promise<unknown> },
  changeId: string,
  finalColumns: unknown[],
  progress: Progress,
  reason = `${DeclineCode.emailTaken}: another account verified this address first`,
) {
  await db.query(
    `UPDATE email_change_requests SET state = 'DECLINED', reason = $2, completed_at = now(), updated_at = now(),
       new_confirmed_at = $3, old_confirmed_at = $4, resends = $5, delivery = $6 WHERE id = $1 AND state = 'REQUESTED'`,
    [changeId, reason, ...finalColumns],
  );
  await recordConfirmedMailsSent(db, changeId, progress);
  return { state: 'DECLINED' as const, reason };
}

/**
 * A confirmed link proves its mail arrived: a send whose attempt died after the relay took it (and was
 * not retried, the link being used) is recorded as sent rather than left `sending` for good.
 */
async function recordConfirmedMailsSent(db: { query: (text: string, values: unknown[]) => Promise<unknown> }, changeId: string, progress: Progress) {
  // Only when the run has not heard of a confirmed link's send: nearly always it has, and this costs no query.
  const unreported = (confirmedAt: number | null, delivery?: Delivery) => confirmedAt !== null && delivery?.status !== 'sent';
  if (!unreported(progress.newConfirmedAt, progress.delivery.new) && !unreported(progress.oldConfirmedAt, progress.delivery.old)) return;
  await db.query(
    `UPDATE mail_messages m SET status = 'sent', sent_at = coalesce(m.sent_at, now()), send_started_at = NULL, token_sealed = NULL
     FROM email_change_requests r
     WHERE r.id = $1 AND m.change_id = r.id AND m.status = 'sending'
       AND ((m.kind = 'verify-new' AND r.new_confirmed_at IS NOT NULL) OR (m.kind = 'verify-old' AND r.old_confirmed_at IS NOT NULL))
       AND m.created_at = (SELECT max(x.created_at) FROM mail_messages x WHERE x.change_id = r.id AND x.kind = m.kind)`,
    [changeId],
  );
}
