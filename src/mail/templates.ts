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
  args: {
    purpose: Purpose;
    kind: ChangeKind;
    newEmail: string;
    link: string;
    linkExpiresAt: number;
    requestedAt: number;
    requestedBy: RequestedBy;
    /** Issue #15 item 6: the one reminder before the request expires (at `requestExpiresAt`). */
    reminder?: boolean;
    requestExpiresAt?: number;
    /** Issue #15 item 7: the 6-digit code the signed-in user may type instead of opening the link. */
    code?: string;
  },
): Mail {
  const { lng } = reader;
  const which = args.purpose === 'old' ? 'Old' : args.kind === 'ADD' ? 'Add' : 'Update';
  const title = args.reminder ? l.t(lng, 'mail.reminder.subject') : l.t(lng, `mail.verify.subject${which}`);
  const intro = paragraph(l, lng, `mail.verify.intro${which}`, { to: maskEmail(args.newEmail) }, ['to']);
  const reminder = args.reminder && args.requestExpiresAt ? [paragraph(l, lng, 'mail.reminder.intro', { date: l.date(lng, args.requestExpiresAt, reader.timeZone) }, ['date'])] : [];
  const rest = [
    whoAsked(l, reader, args.requestedBy, args.requestedAt),
    paragraph(l, lng, 'mail.verify.expires', { date: l.date(lng, args.linkExpiresAt, reader.timeZone) }, ['date']),
    paragraph(l, lng, 'mail.verify.notYou'),
  ];
  const href = escapeHtml(args.link);
  const button = `<p style="margin:20px 0"><a href="${href}" style="display:inline-block;padding:10px 18px;background:#1f5f99;color:#ffffff;text-decoration:none;border-radius:4px">${escapeHtml(l.t(lng, 'mail.verify.button'))}</a></p>
<p style="font-size:13px;color:#5a6270;margin:0 0 14px;word-break:break-all">${escapeHtml(l.t(lng, 'mail.verify.copy'))}<br>${href}</p>`;
  const code = args.code ? [paragraph(l, lng, 'mail.verify.code', { code: args.code }, ['code'])] : [];
  return compose(l, reader, title, {
    text: [...reminder.map((p) => p.text), intro.text, `${l.t(lng, 'mail.verify.confirmHere')}\n${args.link}`, ...code.map((p) => p.text), ...rest.map((p) => p.text)],
    html: [...reminder.map((p) => P(p.html)), P(intro.html), button, ...code.map((p) => P(p.html)), ...rest.map((p) => P(p.html))],
  });
}

const linkButton = (label: string, link: string) => {
  const href = escapeHtml(link);
  return `<p style="margin:20px 0"><a href="${href}" style="display:inline-block;padding:10px 18px;background:#a3281f;color:#ffffff;text-decoration:none;border-radius:4px">${escapeHtml(label)}</a></p>
<p style="font-size:13px;color:#5a6270;margin:0 0 14px;word-break:break-all">${href}</p>`;
};

/**
 * R-OLD: the notice the old address gets after a completed change. It never carries a link for the new
 * address; since issue #15 it carries the undo link ("this wasn't me") while the change's window is open.
 */
export function changedNotice(l: Localizer, reader: Reader, args: { newEmail: string; changedAt: number; undo?: { link: string; until: number } }): Mail {
  const { lng } = reader;
  const title = l.t(lng, 'mail.notice.subject');
  const body = paragraph(l, lng, 'mail.notice.body', { to: maskEmail(args.newEmail), date: l.date(lng, args.changedAt, reader.timeZone) }, ['to']);
  if (!args.undo) {
    const parts = [body, paragraph(l, lng, 'mail.notice.notYou')];
    return compose(l, reader, title, { text: parts.map((p) => p.text), html: parts.map((p) => P(p.html)) });
  }
  const undo = paragraph(l, lng, 'mail.notice.undo', { date: l.date(lng, args.undo.until, reader.timeZone) }, ['date']);
  const label = l.t(lng, 'mail.notice.undoButton');
  return compose(l, reader, title, {
    text: [body.text, undo.text, `${label}:\n${args.undo.link}`],
    html: [P(body.html), P(undo.html), linkButton(label, args.undo.link)],
  });
}

/** Issue #15 item 4: after an undo, to the restored (old) address and to the address that was removed. */
export function revertedMail(
  l: Localizer,
  reader: Reader,
  args: { to: 'old' | 'new'; restoredEmail: string; removedEmail: string; at: number; blockedUntil: number | null },
): Mail {
  const { lng } = reader;
  const date = l.date(lng, args.at, reader.timeZone);
  const parts =
    args.to === 'old'
      ? [
          paragraph(l, lng, 'mail.reverted.bodyOld', { removed: maskEmail(args.removedEmail), date }, ['removed']),
          paragraph(l, lng, 'mail.reverted.signedOut'),
          ...(args.blockedUntil ? [paragraph(l, lng, 'mail.reverted.blocked', { date: l.date(lng, args.blockedUntil, reader.timeZone) }, ['date'])] : []),
        ]
      : [paragraph(l, lng, 'mail.reverted.bodyNew', { date }), paragraph(l, lng, 'mail.reverted.notYouNew')];
  const title = l.t(lng, args.to === 'old' ? 'mail.reverted.subjectOld' : 'mail.reverted.subjectNew');
  return compose(l, reader, title, { text: parts.map((p) => p.text), html: parts.map((p) => P(p.html)) });
}

/** Issue #15 item 6: the request was not confirmed in time (to the new address). */
export function lapsedNotice(l: Localizer, reader: Reader, args: { newEmail: string; expiredAt: number }): Mail {
  const { lng } = reader;
  const parts = [
    paragraph(l, lng, 'mail.lapsed.body', { email: args.newEmail, date: l.date(lng, args.expiredAt, reader.timeZone) }, ['email']),
    paragraph(l, lng, 'mail.lapsed.next'),
  ];
  return compose(l, reader, l.t(lng, 'mail.lapsed.subject'), { text: parts.map((p) => p.text), html: parts.map((p) => P(p.html)) });
}
