import { expect } from 'vitest';
import type { CapturedMail } from '../../src/dev/smtp-capture';
import type { TestStack } from '../helpers/stack';
import type { ApiClient, TestUser } from '../helpers/http';
import { uniqueEmail } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail } from '../helpers/flow';

/** Issue #15 item 4 helpers: an approved change of a verified address, and the undo link its notice carries. */

export function undoLinkIn(mail: CapturedMail): string {
  const link = mail.links.find((l) => new URL(l).pathname === '/undo-email-change');
  if (!link) throw new Error(`no undo link in mail "${mail.subject}"`);
  return link;
}

/** A user whose verified address `oldEmail` was changed to `newEmail` (both confirmed); returns the notice sent to `oldEmail`. */
export async function approvedChange(stack: TestStack, api: ApiClient, tag: string): Promise<{ user: TestUser; oldEmail: string; newEmail: string; changeId: string; notice: CapturedMail }> {
  const { user, email: oldEmail } = await userWithVerifiedEmail(api, stack.smtp, `${tag}-old`);
  const newEmail = uniqueEmail(`${tag}-new`);
  const change = await startChange(api, user, newEmail);
  expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, newEmail) } })).status).toBe(200);
  const last = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, oldEmail, 1) } });
  expect(last.body.state, last.text).toBe('APPROVED');
  const notice = await stack.smtp.waitForMessage(oldEmail, { seen: 2 });
  return { user, oldEmail, newEmail, changeId: change.id, notice };
}

/** Presses the undo page's button as a browser would (a form POST). */
export async function pressUndo(link: string): Promise<{ status: number; html: string }> {
  const url = new URL(link);
  const res = await fetch(`${url.origin}/undo-email-change`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: url.searchParams.get('token')! }).toString(),
  });
  return { status: res.status, html: await res.text() };
}
