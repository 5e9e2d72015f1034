import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { clickAndConfirm, startChange, tokenFromMail } from '../helpers/flow';
import { createLinkToken, verifyLinkToken } from '../../src/tokens';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const userRow = async (id: string) =>
  (await stack.pool.query('SELECT email, email_verified FROM users WHERE id = $1', [id])).rows[0];

describe('R-CONFLICT', () => {
  it('an address held unverified by another account moves here on commit', async () => {
    const shared = uniqueEmail('held');
    const holder = await signedInUser(api, { email: shared });
    const user = await signedInUser(api);
    await startChange(api, user, shared);
    const ok = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, shared) } });
    expect(ok.body.state).toBe('APPROVED');
    expect(await userRow(user.id)).toEqual({ email: shared, email_verified: true });
    expect(await userRow(holder.id)).toEqual({ email: null, email_verified: false });
    const holderMe = await api.get('/v1/me', { token: holder.token });
    expect(holderMe.body.previousEmails.map((p: { email: string }) => p.email)).toEqual([shared]);
  });

  it('two users racing to verify one address: exactly one owner, the other DECLINED with its page (×5)', async () => {
    for (let round = 0; round < 5; round++) {
      const address = uniqueEmail('race');
      const [a, b] = await Promise.all([signedInUser(api), signedInUser(api)]);
      const [changeA, changeB] = [await startChange(api, a, address), await startChange(api, b, address)];
      const mailed = [await tokenFromMail(stack.smtp, address, 0), await tokenFromMail(stack.smtp, address, 1)];
      // Both mails go to one address; the token itself says which change it belongs to.
      const changeOf = (t: string) => verifyLinkToken(stack.config.tokenSecret, t)!.changeId;
      const tokenA = mailed.find((t) => changeOf(t) === changeA.id)!;
      const tokenB = mailed.find((t) => changeOf(t) === changeB.id)!;
      const [ra, rb] = await Promise.all([
        api.post('/v1/email/verify', { json: { token: tokenA } }),
        api.post('/v1/email/verify', { json: { token: tokenB } }),
      ]);
      expect([ra.status, rb.status].sort()).toEqual([200, 409]);
      const loser = ra.status === 409 ? { res: ra, change: changeA, token: tokenA } : { res: rb, change: changeB, token: tokenB };
      expect(loser.res.body.error.code).toBe('EMAIL_TAKEN');
      const owners = await stack.pool.query('SELECT id FROM users WHERE lower(email_normalized) = $1 AND email_verified', [address.toLowerCase()]);
      expect(owners.rowCount).toBe(1);
      const state = await stack.pool.query('SELECT state, reason FROM email_change_requests WHERE id = $1', [loser.change.id]);
      expect(state.rows[0].state).toBe('DECLINED');
      expect(state.rows[0].reason).toMatch(/another account/);
      const loserUser = loser.change.id === changeA.id ? a : b;
      expect((await api.get('/v1/email/change', { token: loserUser.token })).body.change).toMatchObject({ state: 'DECLINED', reasonCode: 'EMAIL_TAKEN' });
      const page = await api.get(`/verify-email?token=${loser.token}`);
      expect(page.status).toBe(409);
      expect(page.text).toContain('This address belongs to another account');
    }
  });

  it('starting a change to an address verified elsewhere is 409 EMAIL_TAKEN; to your own is 409 SAME_EMAIL', async () => {
    const owner = await signedInUser(api);
    const address = uniqueEmail('owned');
    await startChange(api, owner, address);
    await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, address) } });
    const other = await signedInUser(api);
    const taken = await api.post('/v1/email/change', { token: other.token, json: { email: address.toUpperCase(), auth: { method: 'password', password: other.password } } });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('EMAIL_TAKEN');
    const same = await api.post('/v1/email/change', { token: owner.token, json: { email: address, auth: { method: 'password', password: owner.password } } });
    expect(same.body.error.code).toBe('SAME_EMAIL');
  });
});

describe('R-TOKEN bad tokens change nothing', () => {
  it('tampered, truncated, other purpose, other change, reused and garbage tokens get the right answer', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('tok');
    const change = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    const secret = stack.config.tokenSecret;
    const far = Date.now() + 3_600_000;

    const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    const cases: [string, unknown, number, string][] = [
      ['tampered MAC', flip(token, token.length - 3), 400, 'INVALID_TOKEN'],
      ['tampered payload', flip(token, 5), 400, 'INVALID_TOKEN'],
      ['truncated', token.slice(0, 40), 400, 'INVALID_TOKEN'],
      ['other secret', createLinkToken('another-secret-another-secret-another', { changeId: change.id, purpose: 'new', expiresAt: far }), 400, 'INVALID_TOKEN'],
      ['other purpose (old) for an ADD', createLinkToken(secret, { changeId: change.id, purpose: 'old', expiresAt: far }), 400, 'INVALID_TOKEN'],
      ['right MAC, not the mailed one', createLinkToken(secret, { changeId: change.id, purpose: 'new', expiresAt: far }), 400, 'INVALID_TOKEN'],
      ['unknown change', createLinkToken(secret, { changeId: '00000000-0000-4000-8000-000000000000', purpose: 'new', expiresAt: far }), 400, 'INVALID_TOKEN'],
      ['a number', 12345, 400, 'VALIDATION_FAILED'],
      ['empty', '', 400, 'VALIDATION_FAILED'],
      ['huge', 'x'.repeat(5000), 400, 'VALIDATION_FAILED'],
    ];
    for (const [name, bad, status, code] of cases) {
      const res = await api.post('/v1/email/verify', { json: { token: bad } });
      expect(res.status, name).toBe(status);
      expect(res.body.error.code, name).toBe(code);
    }
    for (const bad of [flip(token, 10), token.slice(0, 20), 'garbage', '']) {
      const page = await api.get(`/verify-email?token=${encodeURIComponent(bad)}`);
      expect(page.status).toBe(400);
      expect(page.text).toContain('This link is not valid');
    }
    expect((await api.get('/v1/email/change', { token: user.token })).body.change).toMatchObject({ state: 'REQUESTED', confirmations: { new: false } });

    // A token for another change (of another user) does not touch this one.
    const other = await signedInUser(api);
    const otherEmail = uniqueEmail('tok2');
    await startChange(api, other, otherEmail);
    const otherToken = await tokenFromMail(stack.smtp, otherEmail);
    expect((await api.post('/v1/email/verify', { json: { token: otherToken } })).body.id).not.toBe(change.id);
    expect((await api.get('/v1/me', { token: user.token })).body.emailVerified).toBe(false);

    // The real one still works, once; a reuse says "already confirmed".
    const { postHtml } = await clickAndConfirm(`${stack.baseUrl}/verify-email?token=${token}`);
    expect(postHtml).toContain('Your email address is confirmed');
    const reuse = await api.post('/v1/email/verify', { json: { token } });
    expect(reuse.body).toMatchObject({ state: 'APPROVED', alreadyConfirmed: true });
  });

  it('a GET with no token, a HEAD, and a POST without a token confirm nothing', async () => {
    expect((await api.get('/verify-email')).status).toBe(400);
    const user = await signedInUser(api);
    const email = uniqueEmail('head');
    await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    expect((await api.request('HEAD', `/verify-email?token=${token}`)).status).toBe(200);
    const post = await api.post('/verify-email', { raw: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(post.status).toBe(400);
    expect((await api.get('/v1/email/change', { token: user.token })).body.change.confirmations.new).toBe(false);
  });
});
