import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { clickAndConfirm, linkIn, waitForStatus } from '../helpers/flow';
import { makeDeviceKey, signChallenge } from '../../scripts/biometric-client';
import { CLIENT_ID, startIssuer, type Issuer } from './jwt-issuer';

/** Issue #14 item 1: step-up re-authentication with an ID token of the app's identity provider. */

let stack: TestStack;
let api: ApiClient;
let idp: Issuer;
beforeAll(async () => {
  idp = await startIssuer();
  stack = await startStack({ ...idp.env, AUTH_MAX_FAILURES: '5', AUTH_LOCKOUT: '15m', REAUTH_MAX_AGE: '5m', AUTH_CLOCK_TOLERANCE: '30s' });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await stack?.stop();
  await idp?.stop();
});

/** A user of the provider, signed in with an access token (created here on first sight). */
async function providerUser(claims: Record<string, unknown> = {}): Promise<TestUser & { sub: string }> {
  const sub = `user-${randomUUID()}`;
  const token = await idp.accessToken(sub, claims);
  const me = await api.get('/v1/me', { token });
  expect(me.status, me.text).toBe(200);
  return { id: me.body.id, username: me.body.username, password: '', token, sub };
}

const start = (user: TestUser, auth: unknown, email = uniqueEmail('stepup')) => api.post('/v1/email/change', { token: user.token, json: { email, auth } });
const lockOf = async (user: TestUser) => (await api.get('/v1/email/change', { token: user.token })).body.lock;

describe('step-up with an ID token (issue #14)', () => {
  it('a provider user adds an address: ID-token proof, the mail, the link clicked, APPROVED', async () => {
    const user = await providerUser();
    const email = uniqueEmail('jwt-add');
    const started = await start(user, { method: 'idToken', idToken: await idp.idToken(user.sub, 30) }, email);
    expect(started.status, started.text).toBe(202);
    expect(started.body.change).toMatchObject({ state: 'REQUESTED', kind: 'ADD', newEmail: email });

    const mail = await stack.smtp.waitForMessage(email);
    expect(mail.text).toMatch(/re-authenticated with a fresh sign-in at the app's identity provider/);
    const { post, postHtml } = await clickAndConfirm(linkIn(mail));
    expect(post.status, postHtml).toBe(200);
    await waitForStatus(api, user, (b) => b.change?.state === 'APPROVED');
    const me = await api.get('/v1/me', { token: user.token });
    expect(me.body).toMatchObject({ id: user.id, email, emailVerified: true });
    expect(await lockOf(user)).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 5 });
  });

  it('stale auth_time, another sub, a bad signature, the wrong audience, a replay, an access token: each counts; the fifth locks (423); then even a good proof is 423', async () => {
    const user = await providerUser();
    const other = `user-${randomUUID()}`;
    const used = await idp.idToken(user.sub, 5);
    expect((await start(user, { method: 'idToken', idToken: used })).status).toBe(202);
    const good = await idp.idToken(user.sub, 5);
    const [h, p] = good.split('.');
    const forged = `${h}.${p}.${Buffer.alloc(256, 1).toString('base64url')}`;
    const bad = [
      await idp.idToken(user.sub, 6 * 60), // auth_time 6 minutes ago: REAUTH_MAX_AGE is 5m (+30s tolerance)
      await idp.idToken(other, 5),
      forged,
      await idp.idToken(user.sub, 5, { aud: 'another-client' }),
      used, // spent by the start above
    ];
    for (let i = 0; i < 4; i++) {
      const res = await start(user, { method: 'idToken', idToken: bad[i] });
      expect(res.status, `proof ${i}: ${res.text}`).toBe(403);
      expect(res.body.error).toMatchObject({ code: 'REAUTH_FAILED', details: { attemptsLeft: 4 - i } });
    }
    const fifth = await start(user, { method: 'idToken', idToken: bad[4] });
    expect(fifth.status, fifth.text).toBe(423);
    expect(fifth.body.error).toMatchObject({ code: 'LOCKED', details: { attemptsLeft: 0 } });
    expect(new Date(fifth.body.error.details.lockedUntil).getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);
    const afterLock = await start(user, { method: 'idToken', idToken: good });
    expect(afterLock.status).toBe(423);
    expect(await lockOf(user)).toMatchObject({ locked: true, attemptsLeft: 0 });
  });

  it('more proofs that do not count as fresh sign-ins: future auth_time, none, an access token, an ID token for the API audience', async () => {
    const user = await providerUser();
    const cases = [
      await idp.idToken(user.sub, -10 * 60), // auth_time in the future
      await idp.sign({ sub: user.sub }, { aud: CLIENT_ID }), // no auth_time
      await idp.sign({ sub: user.sub, auth_time: Math.floor(Date.now() / 1000) }, { aud: CLIENT_ID, typ: 'at+jwt' }), // an RFC 9068 access token
      user.token, // the access token itself (API audience, no auth_time)
    ];
    for (const [i, idToken] of cases.entries()) {
      const res = await start(user, { method: 'idToken', idToken });
      expect(res.status, `case ${i}: ${res.text}`).toBe(403);
      expect(res.body.error.details.attemptsLeft).toBe(4 - i);
    }
    // A good proof clears the count.
    const ok = await start(user, { method: 'idToken', idToken: await idp.idToken(user.sub, 1) });
    expect(ok.status, ok.text).toBe(202);
    expect(ok.body.lock).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 5 });
  });

  it('ten parallel bad ID tokens never get more than the allowed tries', async () => {
    const user = await providerUser();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => idp.idToken(user.sub, 3600)));
    const results = await Promise.all(tokens.map((idToken) => start(user, { method: 'idToken', idToken })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 403)).toHaveLength(4);
    expect(statuses.filter((s) => s === 423)).toHaveLength(6);
  });

  it('a password for an account without one is refused (400, not counted), naming the methods that work', async () => {
    const user = await providerUser();
    const res = await start(user, { method: 'password', password: 'any password at all' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'REAUTH_METHOD_UNAVAILABLE', details: { methods: ['idToken'] } });
    expect(res.body.error.message).toMatch(/use idToken/);
    expect(await lockOf(user)).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 5 });

    // Sign-in with its generated username is the one "wrong username or password" answer and counts nothing.
    const signIn = await api.post('/v1/sessions', { json: { username: user.username, password: 'any password at all' } });
    expect(signIn.status).toBe(401);
    expect(await lockOf(user)).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 5 });

    // A built-in user cannot prove itself with an ID token.
    const local = await signedInUser(api);
    const mine = await start(local, { method: 'idToken', idToken: await idp.idToken('someone', 1) });
    expect(mine.status).toBe(400);
    expect(mine.body.error).toMatchObject({ code: 'REAUTH_METHOD_UNAVAILABLE', details: { methods: ['password'] } });
  });

  it('a provider user registers a device key with an ID token, then re-authenticates biometrically', async () => {
    const user = await providerUser();
    const key = await makeDeviceKey();
    const noPassword = await api.post('/v1/devices', { token: user.token, json: { name: 'Phone', publicKey: key.publicJwk, password: 'guess' } });
    expect(noPassword.status).toBe(400);
    expect(noPassword.body.error.code).toBe('REAUTH_METHOD_UNAVAILABLE');
    const neither = await api.post('/v1/devices', { token: user.token, json: { name: 'Phone', publicKey: key.publicJwk } });
    expect(neither.status).toBe(400);
    expect(neither.body.error.code).toBe('VALIDATION_FAILED');

    const device = await api.post('/v1/devices', {
      token: user.token,
      json: { name: 'Phone', publicKey: key.publicJwk, auth: { method: 'idToken', idToken: await idp.idToken(user.sub, 2) } },
    });
    expect(device.status, device.text).toBe(201);
    const methods = await start(user, { method: 'password', password: 'x' });
    expect(methods.body.error.details.methods).toEqual(['biometric', 'idToken']);

    const challenge = await api.post('/v1/auth/challenges', { token: user.token, json: { deviceId: device.body.id } });
    const res = await start(user, {
      method: 'biometric',
      deviceId: device.body.id,
      challengeId: challenge.body.challengeId,
      signature: await signChallenge(key, challenge.body.challenge),
    });
    expect(res.status, res.text).toBe(202);
  });

  it('a malformed idToken field is 400 VALIDATION_FAILED, not a counted try', async () => {
    const user = await providerUser();
    for (const idToken of ['', 42, 'not-a-jwt', 'a.b', `a.b.${'x'.repeat(9000)}`]) {
      const res = await start(user, { method: 'idToken', idToken });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect(await lockOf(user)).toMatchObject({ attemptsLeft: 5 });
  });
});
