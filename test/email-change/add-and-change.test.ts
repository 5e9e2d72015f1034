import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { clickAndConfirm, linkIn, startChange, tokenFromMail } from '../helpers/flow';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

describe('UC02 add an email', () => {
  it('mail → GET page (consumes nothing) → POST confirm → verified in /v1/me, request APPROVED', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('Add');
    const change = await startChange(api, user, email);
    expect(change).toMatchObject({ state: 'REQUESTED', kind: 'ADD', newEmail: email, oldEmail: null, confirmations: { new: false, old: null } });

    const mail = await stack.smtp.waitForMessage(email);
    expect(mail.subject).toBe('Confirm your email address');
    expect(mail.text).toMatch(/after the account holder re-authenticated with a password/);
    expect(mail.text).not.toContain(user.username); // nothing the requester chose goes into mail (issue #9)
    expect(mail.text).toMatch(/expires on/);
    expect(mail.html).toContain('href=');
    const link = linkIn(mail);
    expect(link.startsWith(`${stack.baseUrl}/verify-email?token=`)).toBe(true);

    // A scanner's GET shows the button and changes nothing.
    const peek = await fetch(link);
    expect(peek.status).toBe(200);
    expect(peek.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await peek.text()).toContain('<button type="submit">Confirm</button>');
    expect((await api.get('/v1/me', { token: user.token })).body.emailVerified).toBe(false);

    const { post, postHtml } = await clickAndConfirm(link);
    expect(post.status).toBe(200);
    expect(postHtml).toContain('Your email address is confirmed');

    const me = (await api.get('/v1/me', { token: user.token })).body;
    expect(me).toMatchObject({ email, emailVerified: true, pendingChange: null, previousEmails: [] });
    expect(new Date(me.emailVerifiedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const row = await stack.pool.query('SELECT state, new_confirmed_at FROM email_change_requests WHERE id = $1', [change.id]);
    expect(row.rows[0].state).toBe('APPROVED');
    expect(row.rows[0].new_confirmed_at).not.toBeNull();

    // Double click: harmless, says so.
    const again = await clickAndConfirm(link);
    expect(again.postHtml).toContain('Already confirmed');
    expect(again.getHtml).toContain('Already confirmed');
    const status = await api.get('/v1/email/change', { token: user.token });
    expect(status.body.change).toMatchObject({ id: change.id, state: 'APPROVED' });
  });

  it('verifying the unverified address given at sign-up keeps no history entry of itself', async () => {
    const email = uniqueEmail('signup');
    const user = await signedInUser(api, { email });
    const change = await startChange(api, user, email);
    expect(change).toMatchObject({ kind: 'ADD', oldEmail: email, confirmations: { new: false, old: null } });
    await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, email) } });
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email, emailVerified: true, previousEmails: [] });
  });

  it('the deep-link endpoint confirms too and answers the change object', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('deep');
    await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    const res = await api.post('/v1/email/verify', { json: { token } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'APPROVED', alreadyConfirmed: false, confirmations: { new: true } });
    const second = await api.post('/v1/email/verify', { json: { token } });
    expect(second.body).toMatchObject({ state: 'APPROVED', alreadyConfirmed: true });
  });
});

describe('UC04 change a verified email (R-OLD)', () => {
  async function userWithVerifiedEmail() {
    const user = await signedInUser(api);
    const email = uniqueEmail('old');
    await startChange(api, user, email);
    await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, email) } });
    return { user, oldEmail: email };
  }

  it.each([
    ['new first', ['new', 'old']],
    ['old first', ['old', 'new']],
  ] as const)('needs both links (%s); the old address gets a notice; history keeps the old address', async (_name, order) => {
    const { user, oldEmail } = await userWithVerifiedEmail();
    const newEmail = uniqueEmail('new');
    const change = await startChange(api, user, newEmail);
    expect(change).toMatchObject({ kind: 'UPDATE', oldEmail, newEmail, confirmations: { new: false, old: false } });

    const oldMail = await stack.smtp.waitForMessage(oldEmail, { seen: 1 });
    expect(oldMail.subject).toBe('Confirm the change of your account email');
    expect(oldMail.text).not.toContain(newEmail); // masked, and never the new address's token
    const tokens = { new: await tokenFromMail(stack.smtp, newEmail), old: linkIn(oldMail) };

    const first = await clickAndConfirm(order[0] === 'new' ? `${stack.baseUrl}/verify-email?token=${tokens.new}` : tokens.old);
    expect(first.postHtml).toContain('Confirmed, one step left');
    const midway = await api.get('/v1/email/change', { token: user.token });
    expect(midway.body.change).toMatchObject({ state: 'REQUESTED', confirmations: { [order[0]]: true, [order[1]]: false } });
    expect((await api.get('/v1/me', { token: user.token })).body.email).toBe(oldEmail);

    const second = await clickAndConfirm(order[1] === 'new' ? `${stack.baseUrl}/verify-email?token=${tokens.new}` : tokens.old);
    // Issue #15: the old address confirming last hears that the change is complete, not that it is the account's address.
    expect(second.postHtml).toContain(order[1] === 'new' ? 'Your email address is confirmed' : 'The email change is complete');

    const me = (await api.get('/v1/me', { token: user.token })).body;
    expect(me).toMatchObject({ email: newEmail, emailVerified: true });
    expect(me.previousEmails.map((p: { email: string }) => p.email)).toEqual([oldEmail]);

    const notice = await stack.smtp.waitForMessage(oldEmail, { seen: 2 });
    expect(notice.subject).toBe('Your account email was changed');
    expect(notice.links.filter((l) => l.includes('/verify-email'))).toEqual([]);
    expect(stack.smtp.messagesTo(newEmail)).toHaveLength(1);
  });
});
