import { escapeHtml } from '../i18n/escape';
import type { Localizer } from '../i18n';
import type { ChangeKind, Purpose, RequestedBy } from '../workflows/messages';

export interface Mail {
  subject: string;
  text: string;
  html: string;
}

/** Whom a mail is for: their language and time zone (the account's stored locale, else English and UTC). */
export interface Reader {
  lng: string;
  timeZone?: string | null;
}

/** "alice@example.com" → "al***@example.com": enough to recognise, not to harvest. */
export function maskEmail(address: string): string {
  const [local = '', domain = ''] = address.split('@');
  return `${local.slice(0, Math.min(2, local.length))}***@${domain}`;
}

/** One paragraph as text and as HTML (with `strong` values in bold). */
type Paragraph = { text: string; html: string };
const paragraph = (l: Localizer, lng: string, key: string, vars: Record<string, string | undefined> = {}, strong: string[] = []): Paragraph => ({
  text: l.t(lng, key, vars),
  html: l.html(lng, key, vars, strong),
});

/** Who asked, from facts the service established itself; nothing the requester typed (issue #9). */
function whoAsked(l: Localizer, reader: Reader, by: RequestedBy, at: number): Paragraph {
  const context = by.device && by.ip ? 'both' : by.device ? 'device' : by.ip ? 'ip' : undefined;
  const vars = { date: l.date(reader.lng, at, reader.timeZone), device: by.device, ip: by.ip, method: l.t(reader.lng, `mail.verify.method.${by.method}`), context };
  return paragraph(l, reader.lng, 'mail.verify.requested', vars);
}

/** The mail around its paragraphs, from the `mail.txt` and `mail.html` templates. */
function compose(l: Localizer, reader: Reader, title: string, parts: { text: string[]; html: string[] }): Mail {
  return {
    subject: title,
    text: l.render('mail.txt', reader.lng, { title, body: parts.text.join('\n\n') }),
    // No scripts and, unless APP_LOGO_URL is set, no remote images: renders alike everywhere and tracks nobody.
    html: l.render('mail.html', reader.lng, { title, body: parts.html.join('\n') }),
  };
}

const P = (html: string) => `<p style="margin:0 0 14px">${html}</p>`;

/** R-MAIL: the verification link for the new (or old) address, with its expiry and who asked. */
export function verificationMail(
  l: Localizer,
  reader: Reader,
  args: { purpose: Purpose; kind: ChangeKind; newEmail: string; link: string; linkExpiresAt: number; requestedAt: number; requestedBy: RequestedBy },
): Mail {
  const { lng } = reader;
  const which = args.purpose === 'old' ? 'Old' : args.kind === 'ADD' ? 'Add' : 'Update';
  const title = l.t(lng, `mail.verify.subject${which}`);
  const intro = paragraph(l, lng, `mail.verify.intro${which}`, { to: maskEmail(args.newEmail) }, ['to']);
  const rest = [
    whoAsked(l, reader, args.requestedBy, args.requestedAt),
    paragraph(l, lng, 'mail.verify.expires', { date: l.date(lng, args.linkExpiresAt, reader.timeZone) }, ['date']),
    paragraph(l, lng, 'mail.verify.notYou'),
  ];
  const href = escapeHtml(args.link);
  const button = `<p style="margin:20px 0"><a href="${href}" style="display:inline-block;padding:10px 18px;background:#1f5f99;color:#ffffff;text-decoration:none;border-radius:4px">${escapeHtml(l.t(lng, 'mail.verify.button'))}</a></p>
<p style="font-size:13px;color:#5a6270;margin:0 0 14px;word-break:break-all">${escapeHtml(l.t(lng, 'mail.verify.copy'))}<br>${href}</p>`;
  return compose(l, reader, title, {
    text: [intro.text, `${l.t(lng, 'mail.verify.confirmHere')}\n${args.link}`, ...rest.map((p) => p.text)],
    html: [P(intro.html), button, ...rest.map((p) => P(p.html))],
  });
}

/** R-OLD: the notice the old address gets after a completed change; it carries no link. */
export function changedNotice(l: Localizer, reader: Reader, args: { newEmail: string; changedAt: number }): Mail {
  const { lng } = reader;
  const title = l.t(lng, 'mail.notice.subject');
  const parts = [
    paragraph(l, lng, 'mail.notice.body', { to: maskEmail(args.newEmail), date: l.date(lng, args.changedAt, reader.timeZone) }, ['to']),
    paragraph(l, lng, 'mail.notice.notYou'),
  ];
  return compose(l, reader, title, { text: parts.map((p) => p.text), html: parts.map((p) => P(p.html)) });
}
