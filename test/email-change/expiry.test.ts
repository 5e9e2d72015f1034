import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  // Short durations stand in for the defaults (the 24h default is covered by the time-skipping test).
  stack = await startStack({ EMAIL_LINK_TTL: '2s', EMAIL_CHANGE_TTL: '6s', RESEND_COOLDOWN: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('R-LINK link expiry and R-EXPIRE request expiry', () => {
  it('an expired link shows the expired page with "send a new link"; the new link works', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('linkttl');
    const change = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    await sleep(2_200);

    const api410 = await api.post('/v1/email/verify', { json: { token } });
    expect(api410.status).toBe(410);
    expect(api410.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'expired' } });
    const page = await fetch(`${stack.baseUrl}/verify-email?token=${token}`);
    expect(page.status).toBe(410);
    const html = await page.text();
    expect(html).toContain('This link has expired');
    expect(html).toContain('action="/verify-email/resend"');

    // The page's button: POST the form.
    const resend = await fetch(`${stack.baseUrl}/verify-email/resend`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(resend.status).toBe(202);
    expect(await resend.text()).toContain('A new link is on its way');
    const fresh = await tokenFromMail(stack.smtp, email, 1);
    const ok = await api.post('/v1/email/verify', { json: { token: fresh } });
    expect(ok.body).toMatchObject({ id: change.id, state: 'APPROVED' });
  });

  it('an unconfirmed request ends EXPIRED in status and PostgreSQL; its links show the expired page', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('reqttl');
    const change = await startChange(api, user, email);
    expect(new Date(change.expiresAt).getTime() - new Date(change.createdAt).getTime()).toBe(6_000);
    const token = await tokenFromMail(stack.smtp, email);

    const body = await waitForStatus(api, user, (b) => b.change?.state === 'EXPIRED', 20_000);
    expect(body.change).toMatchObject({ id: change.id, state: 'EXPIRED', linkExpiresAt: null, resendsLeft: 0 });
    const row = await stack.pool.query('SELECT state, completed_at FROM email_change_requests WHERE id = $1', [change.id]);
    expect(row.rows[0].state).toBe('EXPIRED');
    expect(row.rows[0].completed_at).not.toBeNull();

    const verify = await api.post('/v1/email/verify', { json: { token } });
    expect(verify.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'expired' } });
    const page = await fetch(`${stack.baseUrl}/verify-email?token=${token}`);
    expect(page.status).toBe(410);
    const html = await page.text();
    expect(html).toContain('This link has expired');
    expect(html).not.toContain('/verify-email/resend'); // the request is closed: start over instead
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: null, emailVerified: false });
  });
});
