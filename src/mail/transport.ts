import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import type Mail from 'nodemailer/lib/mailer';
import { smtpAddressOf } from '../email-address';

export type MailTransport = Transporter<SMTPTransport.SentMessageInfo>;

/** SMTP connections one process keeps open: also how many of its mails can be mid-transfer at once. */
export const SMTP_POOL_CONNECTIONS = 5;

/** True for a relay on this machine (the development capture server), the only place plain SMTP is fine by default. */
export const isLocalRelay = (smtpUrl: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(smtpUrl).hostname);

/**
 * A pooled SMTP transport from SMTP_URL; short timeouts so a dead server fails an activity attempt fast.
 * Mail carries live links: to a remote relay it goes over TLS (smtps://, or STARTTLS required) unless `allowInsecure`.
 * Recipients go out in their A-label form (`jörg@xn--bcher-kva.example`), and one whose local part is
 * not ASCII only to a relay that offers SMTPUTF8 (`smtpUtf8`, SMTP_UTF8; see SmtpUtf8Support).
 */
export function createMailTransport(smtpUrl: string, opts: { allowInsecure?: boolean; smtpUtf8?: SmtpUtf8Mode } = {}): MailTransport {
  const local = isLocalRelay(smtpUrl);
  const transport = nodemailer.createTransport({
    url: smtpUrl,
    // Reused connections: no TCP/TLS handshake and greeting per mail (~100 ms each even on loopback).
    pool: true,
    maxConnections: SMTP_POOL_CONNECTIONS,
    // Never resend inside nodemailer: a retry is the activity's, after its sent-check in PostgreSQL.
    maxRequeues: 0,
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 15_000,
    // The development capture server on loopback offers no TLS; anywhere else a relay without STARTTLS is refused.
    ignoreTLS: local,
    requireTLS: !local && !opts.allowInsecure && smtpUrl.startsWith('smtp:'),
  } as SMTPTransport.Options);
  return withInternationalRecipients(transport, new SmtpUtf8Support(opts.smtpUtf8 ?? 'auto', smtpUrl, opts));
}

/**
 * Every sendMail of the transport addresses its recipients in the form the relay takes: the domain
 * as an A-label, and a UTF-8 local part only when the relay offers SMTPUTF8. Otherwise it fails as
 * a relay would (553 5.6.7, permanent, with a sentence that says why), or, when the relay cannot be
 * asked just now, as a connection error (temporary), before anything is sent.
 */
function withInternationalRecipients(transport: MailTransport, utf8: SmtpUtf8Support): MailTransport {
  const sendMail = transport.sendMail.bind(transport) as (mail: Mail.Options) => Promise<SMTPTransport.SentMessageInfo>;
  const send = async (message: Mail.Options) => {
    if (typeof message.to !== 'string') return sendMail(message);
    const recipient = smtpAddressOf(message.to);
    if (recipient.needsSmtpUtf8) {
      const offered = await utf8.offered();
      if (offered === undefined) throw new Error('the mail server could not be asked whether it takes internationalised addresses (SMTPUTF8)');
      if (!offered) {
        throw Object.assign(new Error('5.6.7 this address has non-ASCII characters before the @, and the mail server does not offer SMTPUTF8, so it cannot be mailed'), {
          responseCode: 553,
          code: 'EENVELOPE',
        });
      }
    }
    return sendMail({ ...message, to: recipient.to });
  };
  transport.sendMail = send as MailTransport['sendMail'];
  return transport;
}

/**
 * Issue #15 item 3: may mail go to an address whose local part is not ASCII (`jörg@example.de`)?
 * Only through a relay that offers SMTPUTF8 (RFC 6531). SMTP_UTF8 says so: `on` (the operator
 * vouches), `off` (never), `auto` (default: ask the relay's EHLO; its answer is kept for
 * `cacheMs`, a relay out of reach is asked again next time).
 */
export type SmtpUtf8Mode = 'auto' | 'on' | 'off';

export class SmtpUtf8Support {
  private known?: { offered: boolean; at: number };
  private asking?: Promise<boolean | undefined>;

  constructor(
    private readonly mode: SmtpUtf8Mode,
    private readonly smtpUrl: string | undefined,
    private readonly opts: { allowInsecure?: boolean; cacheMs?: number } = {},
  ) {}

  /** true or false; undefined when the relay could not be asked just now. */
  async offered(): Promise<boolean | undefined> {
    if (this.mode !== 'auto') return this.mode === 'on';
    if (!this.smtpUrl) return false;
    if (this.known && Date.now() - this.known.at < (this.opts.cacheMs ?? 10 * 60_000)) return this.known.offered;
    this.asking ??= relayOffersSmtpUtf8(this.smtpUrl, this.opts).finally(() => (this.asking = undefined));
    const offered = await this.asking;
    if (offered !== undefined) this.known = { offered, at: Date.now() };
    return offered;
  }
}

/** Connects to the relay as the transport would (TLS rules included), reads its EHLO and quits; undefined when it cannot be reached. */
export function relayOffersSmtpUtf8(smtpUrl: string, opts: { allowInsecure?: boolean; timeoutMs?: number } = {}): Promise<boolean | undefined> {
  const local = isLocalRelay(smtpUrl);
  const timeout = opts.timeoutMs ?? 5_000;
  const connection = new SMTPConnection({
    ...(parseConnectionUrl(smtpUrl) as SMTPConnection.Options),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    ignoreTLS: local,
    requireTLS: !local && !opts.allowInsecure && smtpUrl.startsWith('smtp:'),
  });
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: boolean | undefined) => {
      if (settled) return;
      settled = true;
      resolve(answer);
    };
    connection.once('error', () => {
      connection.close();
      done(undefined);
    });
    connection.once('end', () => done(undefined));
    connection.connect((err) => {
      if (err) {
        connection.close();
        return done(undefined);
      }
      // nodemailer keeps the extensions of the last EHLO (after STARTTLS, the one that counts) here; it has no public getter.
      const extensions = (connection as unknown as { _supportedExtensions?: unknown })._supportedExtensions;
      done(Array.isArray(extensions) ? extensions.includes('SMTPUTF8') : undefined);
      connection.quit();
    });
  });
}
