import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';

export type MailTransport = Transporter<SMTPTransport.SentMessageInfo>;

/** True for a relay on this machine (the development capture server), the only place plain SMTP is fine by default. */
export const isLocalRelay = (smtpUrl: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(smtpUrl).hostname);

/**
 * A pooled SMTP transport from SMTP_URL; short timeouts so a dead server fails an activity attempt fast.
 * Mail carries live links: to a remote relay it goes over TLS (smtps://, or STARTTLS required) unless `allowInsecure`.
 */
export function createMailTransport(smtpUrl: string, opts: { allowInsecure?: boolean } = {}): MailTransport {
  const local = isLocalRelay(smtpUrl);
  return nodemailer.createTransport({
    url: smtpUrl,
    // Reused connections: no TCP/TLS handshake and greeting per mail (~100 ms each even on loopback).
    pool: true,
    maxConnections: 5,
    // Never resend inside nodemailer: a retry is the activity's, after its sent-check in PostgreSQL.
    maxRequeues: 0,
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 15_000,
    // The development capture server on loopback offers no TLS; anywhere else a relay without STARTTLS is refused.
    ignoreTLS: local,
    requireTLS: !local && !opts.allowInsecure && smtpUrl.startsWith('smtp:'),
  } as SMTPTransport.Options);
}
