import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';

export type MailTransport = Transporter<SMTPTransport.SentMessageInfo>;

/** A pooled SMTP transport from SMTP_URL; short timeouts so a dead server fails an activity attempt fast. */
export function createMailTransport(smtpUrl: string): MailTransport {
  const local = /^smtps?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(smtpUrl);
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
    // The development capture server on loopback offers no TLS.
    ignoreTLS: local,
  } as SMTPTransport.Options);
}
