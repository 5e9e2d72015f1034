import { escapeHtml } from '../api/html';
import type { ChangeKind, Purpose, RequestedBy } from '../workflows/messages';

export interface Mail {
  subject: string;
  text: string;
  html: string;
}

const when = (ms: number) => new Date(ms).toUTCString();

/** "alice@example.com" → "al***@example.com": enough to recognise, not to harvest. */
export function maskEmail(address: string): string {
  const [local = '', domain = ''] = address.split('@');
  return `${local.slice(0, Math.min(2, local.length))}***@${domain}`;
}

/** Who asked, from facts the service established itself; nothing the requester typed (issue #9). */
function whoAsked(by: RequestedBy, at: number): string {
  const from = [by.device && `on ${by.device}`, by.ip && `from the network address ${by.ip}`].filter(Boolean).join(' ');
  return `Requested on ${when(at)}${from ? ` ${from}` : ''}, after the account holder re-authenticated with ${by.method === 'password' ? 'a password' : 'a biometric device key'}.`;
}

function html(title: string, paragraphs: string[], button?: { href: string; label: string }): string {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  const cta = button
    ? `<p><a href="${escapeHtml(button.href)}" style="display:inline-block;padding:10px 18px;background:#1f5f99;color:#ffffff;text-decoration:none;border-radius:4px">${escapeHtml(button.label)}</a></p>
<p style="font-size:13px;color:#555555">Or copy this address into your browser:<br>${escapeHtml(button.href)}</p>`
    : '';
  // No remote images, no scripts: renders the same in every client and tracks nobody.
  return `<!doctype html><html><body style="font-family:Arial,sans-serif;line-height:1.5;color:#1a1a1a">
<h2>${escapeHtml(title)}</h2>
${body}
${cta}
</body></html>`;
}

/** R-MAIL: the verification link for the new (or old) address, with its expiry and who asked. */
export function verificationMail(args: {
  purpose: Purpose;
  kind: ChangeKind;
  newEmail: string;
  link: string;
  linkExpiresAt: number;
  requestedAt: number;
  requestedBy: RequestedBy;
}): Mail {
  const title =
    args.purpose === 'new'
      ? args.kind === 'ADD' ? 'Confirm your email address' : 'Confirm your new email address'
      : 'Confirm the change of your account email';
  const what =
    args.purpose === 'new'
      ? `Someone asked to ${args.kind === 'ADD' ? 'add this address to' : 'make this the email address of'} their account.`
      : `Someone asked to change your account's email address from this address to ${maskEmail(args.newEmail)}. The change needs your confirmation here too.`;
  const paragraphs = [
    what,
    whoAsked(args.requestedBy, args.requestedAt),
    `The link works once and expires on ${when(args.linkExpiresAt)}.`,
    "If this wasn't you, do not open the link: nothing changes without it. Consider changing your password.",
  ];
  return {
    subject: title,
    text: `${title}\n\n${paragraphs[0]}\n\nConfirm here:\n${args.link}\n\n${paragraphs.slice(1).join('\n\n')}\n`,
    html: html(title, paragraphs, { href: args.link, label: 'Review and confirm' }),
  };
}

/** R-OLD: the notice the old address gets after a completed change; it carries no link. */
export function changedNotice(args: { newEmail: string; changedAt: number }): Mail {
  const title = 'Your account email was changed';
  const paragraphs = [
    `The email address of your account was changed to ${maskEmail(args.newEmail)} on ${when(args.changedAt)}. This address no longer receives mail for the account.`,
    "If this wasn't you, contact support at once: someone may have access to your account.",
  ];
  return { subject: title, text: `${title}\n\n${paragraphs.join('\n\n')}\n`, html: html(title, paragraphs) };
}
