import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail } from '../helpers/flow';
import { AUTH_TEST_ENV, fakeIp, proxiedClient } from './clients';

/**
 * Issue 9, item 7: POST /v1/users answered 409 EMAIL_TAKEN exactly for verified addresses, to
 * anyone, without limit, and the availability check's limit was per process. Now sign-up stores
 * any address unverified and answers alike; sign-up is limited per client, availability per user
 * and per client, in PostgreSQL.
 */

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ ...AUTH_TEST_ENV, LIMIT_SIGNUP_PER_CLIENT: '3/1h', LIMIT_AVAILABILITY_PER_CLIENT: '5/1h' });
  api = proxiedClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const signUp = (ip: string, username: string, email?: string) =>
  api.post('/v1/users', { json: { username, password: 'long enough password', ...(email ? { email } : {}) }, headers: { 'x-forwarded-for': ip } });
let n = 0;
const freshName = () => `signup_${process.pid}_${Date.now().toString(36)}_${n++}`;

async function verifiedOwner(): Promise<{ owner: TestUser; email: string }> {
  const owner = await signedInUser(api);
  const email = uniqueEmail('Owned');
  await startChange(api, owner, email);
  expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, email) } })).status).toBe(200);
  return { owner, email };
}

describe('sign-up does not tell which addresses are accounts', () => {
  it('a verified address answers 201 like a fresh one, and stays its owner\'s', async () => {
    const { owner, email } = await verifiedOwner();
    const fresh = uniqueEmail('Fresh');
    const [taken, free] = [await signUp(fakeIp(), freshName(), email.toUpperCase()), await signUp(fakeIp(), freshName(), fresh)];
    expect(taken.status).toBe(201);
    expect(free.status).toBe(201);
    const shape = (body: any) => ({ ...body, id: typeof body.id, username: typeof body.username, email: typeof body.email });
    expect(shape(taken.body)).toEqual(shape(free.body));
    expect(taken.body).toMatchObject({ email: email.toUpperCase(), emailVerified: false });

    const rows = await stack.pool.query('SELECT id, email_verified FROM users WHERE lower(email_normalized) = lower($1) ORDER BY created_at', [email]);
    expect(rows.rows).toEqual([
      { id: owner.id, email_verified: true },
      { id: taken.body.id, email_verified: false },
    ]);
    const me = await api.get('/v1/me', { token: owner.token });
    expect(me.body).toMatchObject({ email, emailVerified: true });

    // The newcomer cannot make it theirs: starting a change to it is refused after re-authentication.
    const session = await api.post('/v1/sessions', { json: { username: taken.body.username, password: 'long enough password' }, headers: { 'x-forwarded-for': fakeIp() } });
    const start = await api.post('/v1/email/change', {
      token: session.body.token,
      json: { email, auth: { method: 'password', password: 'long enough password' } },
    });
    expect(start.status).toBe(409);
    expect(start.body.error.code).toBe('EMAIL_TAKEN');
  });

  it('is limited per client: 429 RATE_LIMITED with Retry-After; another client is not affected', async () => {
    const ip = fakeIp();
    for (let i = 0; i < 3; i++) expect((await signUp(ip, freshName())).status).toBe(201);
    const name = freshName();
    const refused = await signUp(ip, name);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3_000);
    expect((await stack.pool.query('SELECT count(*)::int AS n FROM users WHERE username = $1', [name])).rows[0].n).toBe(0);
    expect((await signUp(fakeIp(), name)).status).toBe(201);
  });
});

describe('availability is limited per client as well as per user', () => {
  it('several accounts behind one client share its allowance', async () => {
    const ip = fakeIp();
    const check = (user: TestUser) =>
      api.get(`/v1/email/availability?email=${encodeURIComponent(uniqueEmail('avail'))}`, { token: user.token, headers: { 'x-forwarded-for': ip } });
    const users = [await signedInUser(api), await signedInUser(api), await signedInUser(api)];
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await check(users[i % 3]!)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const other = await api.get(`/v1/email/availability?email=x%40example.com`, { token: users[0]!.token, headers: { 'x-forwarded-for': fakeIp() } });
    expect(other.status).toBe(200);
  });
});
