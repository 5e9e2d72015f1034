import { createHash } from 'node:crypto';
import { ApplicationFailure, log } from '@temporalio/activity';
import type pg from 'pg';
import type { Config } from '../config';
import type { MailTransport } from '../mail/transport';
import type { Mail } from '../mail/templates';
import type { ReaderFacts } from '../mail/reader';

/** A mail_messages row as its send claimed it, with its user's language (src/mail/reader.ts). */
export interface ClaimedMail extends ReaderFacts {
  recipient: string;
  /** A verification or notice mail's link, sealed until the mail is sent. */
  sealed: Buffer | null;
  linkExpiresAt: Date | null;
}

/** The outbox send every mail activity shares: one SMTP try per call, and never the same message twice. */
export function sendOnceWith(config: Config, pool: pg.Pool, mail: MailTransport) {
  const senderDomain = /@([^>\s]+)/.exec(config.mailFrom)?.[1] ?? 'email-change.local';

  /** One SMTP send with a Message-ID derived from the key; 5xx answers are permanent. */
  async function send(messageKey: string, to: string, content: Mail): Promise<void> {
    try {
      await mail.sendMail({
        from: config.mailFrom,
        to,
        subject: content.subject,
        text: content.text,
        html: content.html,
        messageId: `<${createHash('sha256').update(messageKey).digest('hex').slice(0, 32)}@${senderDomain}>`,
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
    } catch (err) {
      const code = (err as { responseCode?: number }).responseCode;
      const message = `SMTP ${code ?? 'connection'} error: ${(err as Error).message}`.slice(0, 300);
      if (code && code >= 500) throw ApplicationFailure.nonRetryable(message, 'SMTP_PERMANENT');
      throw ApplicationFailure.retryable(message, 'SMTP_TEMPORARY');
    }
  }

  /**
   * Sends the mail of `messageKey` unless PostgreSQL says it was sent already. SMTP cannot be asked
   * whether it took a message, so a send whose attempt died after starting SMTP (its `send_started_at`
   * is still set) is in doubt: it goes again with the same Message-ID, counted in `resent_in_doubt`.
   * `build` gets the claimed row: its recipient and sealed link, and the language of `userId`'s mail.
   */
  async function sendOnce(messageKey: string, userId: string, build: (claimed: ClaimedMail) => Mail, lastTry = false): Promise<{ sentAt: string }> {
    // Issue #12: the claim also reads what the mail needs (it was one or two queries more per mail).
    const { rows } = await pool.query<{ status: string; sentAt: Date | null; inDoubt: boolean } & ClaimedMail>(
      `UPDATE mail_messages m SET attempts = m.attempts + 1,
         resent_in_doubt = m.resent_in_doubt + CASE WHEN before.send_started_at IS NOT NULL AND m.status <> 'sent' THEN 1 ELSE 0 END,
         send_started_at = CASE WHEN m.status = 'sent' THEN m.send_started_at ELSE now() END
       FROM (SELECT message_key, send_started_at FROM mail_messages WHERE message_key = $1 FOR UPDATE) before
       LEFT JOIN users u ON u.id = $2
       WHERE m.message_key = before.message_key
       RETURNING m.status, m.sent_at AS "sentAt", before.send_started_at IS NOT NULL AS "inDoubt",
         m.recipient, m.token_sealed AS sealed, m.link_expires_at AS "linkExpiresAt", u.locale, u.time_zone AS "timeZone"`,
      [messageKey, userId],
    );
    const row = rows[0];
    if (!row) throw ApplicationFailure.nonRetryable(`no mail_messages row for ${messageKey}`, 'MAIL_NOT_PREPARED');
    if (row.status === 'sent') return { sentAt: row.sentAt!.toISOString() };
    if (row.inDoubt) log.warn('sending again a mail whose earlier attempt stopped mid-send (same Message-ID)', { messageKey });
    try {
      await send(messageKey, row.recipient, build(row));
    } catch (err) {
      // An attempt that reports an error counts as not sent; only one that never reported leaves the next in doubt.
      // The status row shows `retrying` with this error, or `failed` when the workflow will not try again.
      const failed = lastTry || (err instanceof ApplicationFailure && err.nonRetryable);
      await pool.query(
        `UPDATE mail_messages SET last_error = $2, send_started_at = NULL, status = CASE WHEN $3 THEN 'failed' ELSE status END WHERE message_key = $1 AND status <> 'sent'`,
        [messageKey, (err as Error).message, failed],
      );
      throw err;
    }
    const sent = await pool.query<{ sentAt: Date }>(
      "UPDATE mail_messages SET status = 'sent', sent_at = now(), send_started_at = NULL, token_sealed = NULL WHERE message_key = $1 RETURNING sent_at AS \"sentAt\"",
      [messageKey],
    );
    return { sentAt: sent.rows[0]!.sentAt.toISOString() };
  }

  return sendOnce;
}
