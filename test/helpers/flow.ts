import { expect } from 'vitest';
import type { CapturedMail, SmtpCapture } from '../../src/dev/smtp-capture';
import { checkAgainstContract, type ApiClient, type TestUser } from './http';

export const PASSWORD_PROOF = (user: TestUser) => ({ method: 'password', password: user.password });

/** POST /v1/email/change with the user's password; expects 202 and returns the change. */
export async function startChange(api: ApiClient, user: TestUser, email: string) {
  const res = await api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) } });
  expect(res.status, res.text).toBe(202);
  return res.body.change;
}

/** The verification link in a mail (the only link whose path is /verify-email). */
export function linkIn(mail: CapturedMail): string {
  const link = mail.links.find((l) => new URL(l).pathname === '/verify-email');
  if (!link) throw new Error(`no verification link in mail "${mail.subject}"`);
  return link;
}

export const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;

/** Whether a mail carries a verification link (a lapsed or changed notice does not). */
export const hasVerifyLink = (mail: CapturedMail) => mail.links.some((l) => new URL(l).pathname === '/verify-email');

/** Waits for mail number `index` (0-based) to `address` and returns its link's token. */
export async function tokenFromMail(smtp: SmtpCapture, address: string, index = 0): Promise<string> {
  return tokenOf(linkIn(await smtp.waitForMessage(address, { seen: index })));
}

/** What a person does: open the link (GET), then press the button (POST the form). */
export async function clickAndConfirm(link: string): Promise<{ get: Response; getHtml: string; post: Response; postHtml: string }> {
  const get = await fetch(link);
  const getHtml = await get.text();
  const url = new URL(link);
  await checkAgainstContract('GET', `${url.pathname}${url.search}`, { status: get.status, headers: get.headers, body: getHtml, text: getHtml });
  const post = await fetch(`${url.origin}/verify-email`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: url.searchParams.get('token')! }).toString(),
  });
  const postHtml = await post.text();
  await checkAgainstContract('POST', '/verify-email', { status: post.status, headers: post.headers, body: postHtml, text: postHtml });
  return { get, getHtml, post, postHtml };
}

/** Polls GET /v1/email/change until `predicate` holds (workflow state changes are asynchronous). */
export async function waitForStatus(api: ApiClient, user: TestUser, predicate: (body: any) => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.get('/v1/email/change', { token: user.token });
    if (res.status === 200 && predicate(res.body)) return res.body;
    if (Date.now() > deadline) throw new Error(`status never matched; last: ${res.text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A signed-in user whose account email is verified (added and confirmed through the flow). */
export async function userWithVerifiedEmail(api: ApiClient, smtp: SmtpCapture, tag = 'verified'): Promise<{ user: TestUser; email: string }> {
  const { signedInUser, uniqueEmail } = await import('./http');
  const user = await signedInUser(api);
  const email = uniqueEmail(tag);
  await startChange(api, user, email);
  const res = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(smtp, email) } });
  expect(res.status, res.text).toBe(200);
  return { user, email };
}
