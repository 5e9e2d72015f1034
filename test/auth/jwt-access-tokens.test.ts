import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { loadConfig } from '../../src/config';
import { JwtVerifier } from '../../src/auth/jwt';
import { AppError } from '../../src/api/errors';
import { freePort } from '../../src/dev/ports';
import { claimsFor, hs256WithPublicKey, startIssuer, unsignedToken, type Issuer } from './jwt-issuer';

/** Issue #14 item 1: the app's access tokens sign users in, verified against its JWKS. */

let stack: TestStack;
let api: ApiClient;
let idp: Issuer;
beforeAll(async () => {
  idp = await startIssuer();
  // Cooldown 0: a rotation is picked up at the first token with the new kid (the cooldown has its own test below).
  stack = await startStack({ ...idp.env, AUTH_JWKS_COOLDOWN: '0s' });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await stack?.stop();
  await idp?.stop();
});

const me = (token: string) => api.get('/v1/me', { token });
const subject = () => `user-${randomUUID()}`;
const usersOf = async (sub: string) =>
  (await stack.pool.query('SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2', [idp.issuer, sub])).rows;

function expectInvalidToken(res: { status: number; headers: Headers; body: any }, reason: RegExp) {
  expect(res.status, JSON.stringify(res.body)).toBe(401);
  expect(res.body.error.code).toBe('UNAUTHENTICATED');
  expect(res.body.error.message).toMatch(reason);
  expect(res.headers.get('www-authenticate')).toBe('Bearer realm="email-change", error="invalid_token"');
}

describe('access tokens of the app (issue #14)', () => {
  it('a first token creates the user with the address the app holds (verified as it says); later tokens change nothing', async () => {
    const sub = subject();
    const email = uniqueEmail('idp');
    const first = await me(await idp.accessToken(sub, { email, email_verified: true }));
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ email, emailVerified: true, previousEmails: [], pendingChange: null });
    expect(first.body.username).toBe(`idp:${first.body.id}`);
    expect(first.body.emailVerifiedAt).not.toBeNull();
    const row = await stack.pool.query('SELECT password_hash FROM users WHERE id = $1', [first.body.id]);
    expect(row.rows[0].password_hash).toBeNull();

    // A later token with another address (or none) is the same user, unchanged.
    const later = await me(await idp.accessToken(sub, { email: uniqueEmail('other'), email_verified: true }));
    expect(later.status).toBe(200);
    expect(later.body).toMatchObject({ id: first.body.id, email, emailVerified: true });
    expect(await usersOf(sub)).toEqual([{ user_id: first.body.id }]);

    // The same subject at another issuer would be another user: the mapping is per issuer.
    expect((await stack.pool.query('SELECT count(*)::int AS n FROM external_identities WHERE subject = $1', [sub])).rows[0].n).toBe(1);
  });

  it('an unverified address is stored unverified; a verified one held verified by another account is stored unverified', async () => {
    const unverified = await me(await idp.accessToken(subject(), { email: uniqueEmail('unv'), email_verified: false }));
    expect(unverified.body).toMatchObject({ emailVerified: false, emailVerifiedAt: null });

    const taken = uniqueEmail('taken');
    const owner = await me(await idp.accessToken(subject(), { email: taken, email_verified: 'true' }));
    expect(owner.body).toMatchObject({ email: taken, emailVerified: true });
    const second = await me(await idp.accessToken(subject(), { email: taken.toUpperCase(), email_verified: true }));
    expect(second.status, second.text).toBe(200);
    expect(second.body).toMatchObject({ email: taken.toUpperCase(), emailVerified: false });

    const none = await me(await idp.accessToken(subject(), { email: 'not an address' }));
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ email: null, emailVerified: false });
  });

  it('20 concurrent first requests of one subject make one user', async () => {
    const sub = subject();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => idp.accessToken(sub, { email: uniqueEmail('race'), email_verified: true })));
    const answers = await Promise.all(tokens.map((token) => me(token)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await usersOf(sub)).toHaveLength(1);
    const id = answers[0]!.body.id;
    expect((await stack.pool.query("SELECT count(*)::int AS n FROM users WHERE username = 'idp:' || $1", [id])).rows[0].n).toBe(1);
  });

  it('refuses wrong issuer, wrong audience, expired, not yet valid, alg none, HS256 with the public key, unknown kid, bad signature, no sub: 401 invalid_token, no user made', async () => {
    const sub = subject();
    const past = Math.floor(Date.now() / 1000) - 600;
    const kid = idp.currentKid();
    const good = await idp.accessToken(sub);
    const [header, payload] = good.split('.');
    const otherPayload = Buffer.from(JSON.stringify(claimsFor(idp, subject()))).toString('base64url');
    const strayKid = await idp.addKey('ES256', { publish: false });
    const cases: [string, string, RegExp][] = [
      ['wrong issuer', await idp.accessToken(sub, {}, { iss: 'https://evil.example.com/' }), /"iss" claim/],
      ['wrong audience', await idp.accessToken(sub, {}, { aud: 'https://other-api.example.com' }), /"aud" claim/],
      ['expired', await idp.accessToken(sub, {}, { exp: past }), /expired/],
      ['not yet valid', await idp.accessToken(sub, {}, { nbf: Math.floor(Date.now() / 1000) + 600 }), /not valid yet/],
      ['alg none', unsignedToken(claimsFor(idp, sub)), /algorithm/],
      ['HS256 keyed with the public key', await hs256WithPublicKey(await idp.publicKeyPem(kid), kid, claimsFor(idp, sub)), /algorithm/],
      ['unknown kid', await idp.accessToken(sub, {}, { kid: strayKid }), /no key/],
      ['a signature over other claims', `${header}.${otherPayload}.${good.split('.')[2]}`, /signature/],
      ['no sub', await idp.sign({}, { omit: ['sub'] }), /"sub" claim/],
      ['no exp', await idp.accessToken(sub, {}, { omit: ['exp'] }), /"exp" claim/],
      ['garbage in three parts', `${header}.${payload}x.AAAA`, /malformed|signature/],
    ];
    for (const [what, token, reason] of cases) {
      const res = await me(token);
      expect(res.status, what).toBe(401);
      expectInvalidToken(res, reason);
    }
    expect(await usersOf(sub)).toEqual([]);
    // The real token of that subject still works.
    expect((await me(good)).status).toBe(200);
  });

  it('follows a key rotation: a token signed with a new kid is accepted once the JWKS has it; the retired key stops working', async () => {
    const sub = subject();
    const oldKid = idp.currentKid();
    expect((await me(await idp.accessToken(sub))).status).toBe(200);
    const newKid = await idp.addKey('ES256', { publish: false });
    idp.publish([newKid]); // the provider rotates: the old key leaves the set
    const fresh = await me(await idp.accessToken(sub, {}, { kid: newKid }));
    expect(fresh.status, fresh.text).toBe(200);
    const retired = await me(await idp.accessToken(sub, {}, { kid: oldKid }));
    expectInvalidToken(retired, /no key/);
    // An EdDSA key works as well.
    const edKid = await idp.addKey('EdDSA');
    idp.publish([newKid, edKid]);
    expect((await me(await idp.accessToken(sub, {}, { kid: edKid }))).status).toBe(200);
  });

  it('session tokens keep working beside access tokens; tokens that are neither are 401', async () => {
    const user = await signedInUser(api);
    expect((await me(user.token)).status).toBe(200);
    const dotted = await me('abc.def');
    expect(dotted.status).toBe(401);
    expect(dotted.body.error.code).toBe('UNAUTHENTICATED');
    const huge = await me(`${'a'.repeat(5000)}.${'b'.repeat(5000)}.c`);
    expect(huge.status).toBe(401);
  });
});

describe('the JWKS client', () => {
  const verifier = (jwksUrl: string, cooldown: string) => {
    const config = loadConfig({ ...idp.env, AUTH_JWKS_URL: jwksUrl, AUTH_JWKS_COOLDOWN: cooldown });
    return new JwtVerifier(config.identityProvider!);
  };

  it('caches the key set; unknown kids refetch it at most once per cooldown', async () => {
    const jwt = verifier(idp.jwksUrl, '30s');
    const before = idp.fetches();
    for (let i = 0; i < 5; i++) await jwt.verifyAccessToken(await idp.accessToken(subject()));
    expect(idp.fetches() - before).toBe(1);
    const stray = await idp.addKey('RS256', { publish: false });
    for (let i = 0; i < 10; i++) {
      await expect(jwt.verifyAccessToken(await idp.accessToken(subject(), {}, { kid: stray }))).rejects.toMatchObject({ status: 401 });
    }
    expect(idp.fetches() - before).toBe(1);
  });

  it('a provider out of reach is 503 UNAVAILABLE (retry), not 401 (sign out)', async () => {
    const jwt = verifier(`http://127.0.0.1:${await freePort()}/jwks.json`, '30s');
    const err = await jwt.verifyAccessToken(await idp.accessToken(subject())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
  });
});
