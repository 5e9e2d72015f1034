import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';

let stack: TestStack;
let api: ApiClient;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const countUsers = async (username: string) =>
  Number((await stack.pool.query('SELECT count(*) FROM users WHERE lower(username) = lower($1)', [username])).rows[0].count);

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body).toMatchObject({ error: { code, message: expect.any(String) } });
}

describe('R-ME accounts over HTTP', () => {
  it('sign up, sign in, and read the profile', async () => {
    const email = uniqueEmail('Profile');
    const user = await signedInUser(api, { email });
    const me = await api.get('/v1/me', { token: user.token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      id: user.id,
      username: user.username,
      email,
      emailVerified: false,
      emailVerifiedAt: null,
      previousEmails: [],
      pendingChange: null,
      locale: null,
      timeZone: null,
    });
    const stored = await stack.pool.query('SELECT password_hash, email_normalized FROM users WHERE id = $1', [user.id]);
    expect(stored.rows[0].password_hash).toMatch(/^\$argon2id\$/);
    expect(stored.rows[0].email_normalized).toBe(email.toLowerCase());
  });

  it('sign-in answers a session token with its expiry', async () => {
    const user = await signedInUser(api);
    const res = await api.post('/v1/sessions', { json: { username: user.username.toUpperCase(), password: user.password } });
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Date(res.body.expiresAt).getTime()).toBeGreaterThan(Date.now() + 11 * 3_600_000);
    const sessions = await stack.pool.query('SELECT token_hash FROM sessions WHERE user_id = $1', [user.id]);
    expect(sessions.rows.map((r) => r.token_hash.toString('base64url'))).not.toContain(res.body.token);
  });

  it('a wrong password and an unknown user get the same answer', async () => {
    const user = await signedInUser(api);
    const wrong = await api.post('/v1/sessions', { json: { username: user.username, password: 'not the password' } });
    const unknown = await api.post('/v1/sessions', { json: { username: `${user.username}_nobody`, password: 'not the password' } });
    expectError(wrong, 401, 'UNAUTHENTICATED');
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.body).toEqual(wrong.body);
  });

  it.each([
    ['no header', {}],
    ['not bearer', { authorization: 'Basic abc' }],
    ['garbage', { authorization: 'Bearer !!!' }],
    ['unknown token', { authorization: `Bearer ${'A'.repeat(43)}` }],
  ])('GET /v1/me without a valid session (%s) is 401', async (_name, headers) => {
    expectError(await api.get('/v1/me', { headers }), 401, 'UNAUTHENTICATED');
  });

  it('an expired session is refused', async () => {
    const user = await signedInUser(api);
    await stack.pool.query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1", [user.id]);
    const res = await api.get('/v1/me', { token: user.token });
    expectError(res, 401, 'UNAUTHENTICATED');
    expect(res.body.error.message).toMatch(/expired/);
  });

  it('a taken username is 409, also when two sign-ups race', async () => {
    const username = `race_${Date.now().toString(36)}`;
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api.post('/v1/users', { json: { username, password: 'long enough password' } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    expectError(results.find((r) => r.status === 409)!, 409, 'USERNAME_TAKEN');
    expect(await countUsers(username)).toBe(1);
  });

  describe('bad input gets a 4xx in the R-ERR shape and writes nothing', () => {
    const cases: [string, unknown, string][] = [
      ['missing fields', {}, 'password'],
      ['wrong types', { username: 42, password: ['x'] }, 'username'],
      ['null body fields', { username: null, password: null }, 'username'],
      ['short password', { username: 'shorty_pw', password: 'short' }, 'password'],
      ['control characters', { username: 'evil\r\nname', password: 'long enough password' }, 'username'],
      ['unicode username', { username: 'ünïcødé', password: 'long enough password' }, 'username'],
      ['bad email', { username: 'bad_email_user', password: 'long enough password', email: 'not-an-email' }, 'email'],
      ['CRLF in email', { username: 'crlf_user', password: 'long enough password', email: 'a@example.com\r\nBcc: x@evil.com' }, 'email'],
      ['300-char email', { username: 'long_email_user', password: 'long enough password', email: `${'a'.repeat(290)}@example.com` }, 'email'],
      ['extra field', { username: 'extra_user', password: 'long enough password', admin: true }, '(body)'],
      ['an array', [1, 2], '(body)'],
    ];
    it.each(cases)('%s → 400 VALIDATION_FAILED', async (_name, json, field) => {
      const res = await api.post('/v1/users', { json });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.error.details.fields.map((f: { path: string }) => f.path)).toContain(field);
      const username = (json as { username?: unknown }).username;
      if (typeof username === 'string') expect(await countUsers(username)).toBe(0);
    });

    it('broken JSON → 400', async () => {
      expectError(await api.post('/v1/users', { raw: '{"username": "x", ' }), 400, 'VALIDATION_FAILED');
      expectError(await api.post('/v1/sessions', { raw: 'null' }), 400, 'VALIDATION_FAILED');
    });

    it('a 1 MB body → 413 PAYLOAD_TOO_LARGE', async () => {
      const username = `big_${Date.now()}`;
      const res = await api.post('/v1/users', { json: { username, password: 'p'.repeat(1024 * 1024) } });
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      expect(await countUsers(username)).toBe(0);
    });

    it('an unknown route → 404 NOT_FOUND, a wrong method → 405', async () => {
      // Routes the document does not have, on purpose: outside the OpenAPI check.
      expectError(await api.get('/v1/nothing-here', { contract: false }), 404, 'NOT_FOUND');
      expectError(await api.request('PUT', '/v1/me', { contract: false }), 405, 'METHOD_NOT_ALLOWED');
    });
  });

  it('every answer carries a request id and no-referrer', async () => {
    const res = await api.get('/healthz', { headers: { 'x-request-id': 'trace-me-123' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('trace-me-123');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });
  it('a validation message says what is wrong with the field, once: its limit, not "must be a string"', async () => {
    const user = await signedInUser(api);
    const cases: [string, Promise<{ status: number; body: any }>, string][] = [
      ['sign-in username too long', api.post('/v1/sessions', { json: { username: 'u'.repeat(65), password: 'x' } }), 'username must be at most 64 characters'],
      ['sign-in password too long', api.post('/v1/sessions', { json: { username: 'someone', password: 'p'.repeat(257) } }), 'password must be at most 256 characters'],
      ['empty link token', api.post('/v1/email/verify', { json: { token: '' } }), 'token must not be empty'],
      ['empty re-authentication password', api.post('/v1/email/change', { token: user.token, json: { email: uniqueEmail(), auth: { method: 'password', password: '' } } }), 'auth.password must not be empty'],
      ['a number for a token', api.post('/v1/email/verify', { json: { token: 7 } }), 'token must be a string'],
      ['an explicit message still wins', api.post('/v1/users', { json: { username: 'ab', password: 'long enough password' } }), 'username must be at least 3 characters'],
      ['an empty device name', api.post('/v1/devices', { token: user.token, json: { name: ' ', publicKey: {}, auth: { method: 'password', password: user.password } } }), 'name must not be empty'],
      ['the address given twice', api.get('/v1/email/availability?email=a@example.com&email=b@example.com', { token: user.token }), 'query.email must be given once'],
      ['the address missing', api.get('/v1/email/availability', { token: user.token }), 'query.email is required'],
    ];
    for (const [label, call, message] of cases) {
      const res = await call;
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.error.message, label).toContain(message);
    }
    // An empty name is not also "control characters"; a bad language tag, caught by two checks, is said once.
    const empty = await api.post('/v1/devices', { token: user.token, json: { name: '', publicKey: {}, auth: { method: 'password', password: user.password } } });
    expect(empty.body.error.details.fields.filter((f: { path: string }) => f.path === 'name')).toEqual([{ path: 'name', message: 'must not be empty' }]);
    const locale = await api.request('PATCH', '/v1/me', { token: user.token, json: { locale: 'xx-INVALID-' } });
    expectError(locale, 400, 'VALIDATION_FAILED');
    expect(locale.body.error.details.fields).toEqual([{ path: 'locale', message: 'must be a language tag like en, ne or ne-NP' }]);
  });
});
