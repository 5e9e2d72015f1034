import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail } from '../helpers/flow';
import { AUTH_TEST_ENV, fakeIp, proxiedClient } from './clients';

/**
 * Issue 9, item 7: POST /v1/users answered 409 EMAIL_TAKEN exactly for verified addresses, to
 * anyone, without limit, and the availability check's limit was per process. Now sign-up stores
 * any address unverified and answers alike; sign-up is limited per client, availability per user
 * and per client, in PostgreSQL. A sign-up must still say a chosen username is taken (409
 * USERNAME_TAKEN, docs/security.md "Known limits"): those answers spend the client's sign-ups too.
 * Starting a change spends a start before it says SAME_EMAIL or EMAIL_TAKEN, so an account cannot
 * probe addresses through start beyond LIMIT_START_PER_USER.
 */

const SIGNUPS_PER_CLIENT = 3;
const STARTS_PER_USER = 3;
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({
    ...AUTH_TEST_ENV,
    LIMIT_SIGNUP_PER_CLIENT: `${SIGNUPS_PER_CLIENT}/1h`,
    LIMIT_AVAILABILITY_PER_CLIENT: '5/1h',
    LIMIT_START_PER_USER: `${STARTS_PER_USER}/1h`,
  });
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
    for (let i = 0; i < SIGNUPS_PER_CLIENT; i++) expect((await signUp(ip, freshName())).status).toBe(201);
    const name = freshName();
    const refused = await signUp(ip, name);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3_000);
    expect((await stack.pool.query('SELECT count(*)::int AS n FROM users WHERE username = $1', [name])).rows[0].n).toBe(0);
    expect((await signUp(fakeIp(), name)).status).toBe(201);
  });

  it('a taken username is said (409 USERNAME_TAKEN), but every such answer spends one of the client\'s sign-ups', async () => {
    const ip = fakeIp();
    const taken = (await signedInUser(api)).username;
    const answers = [];
    for (let i = 0; i <= SIGNUPS_PER_CLIENT; i++) answers.push(await signUp(ip, i % 2 ? taken.toUpperCase() : taken));
    expect(answers.map((r) => r.body.error?.code)).toEqual([...Array(SIGNUPS_PER_CLIENT).fill('USERNAME_TAKEN'), 'RATE_LIMITED']);
    expect(answers.map((r) => r.status)).toEqual([...Array(SIGNUPS_PER_CLIENT).fill(409), 429]);
    // Out of sign-ups, the client learns nothing more: a free name gets the same refusal as a taken one.
    const free = await signUp(ip, freshName());
    expect([free.status, free.body.error.code, free.body.error.message]).toEqual([429, 'RATE_LIMITED', answers.at(-1)!.body.error.message]);
  });
});

describe('starting a change is no unlimited "is this address an account" oracle (item 7 residual)', () => {
  it('each start answered EMAIL_TAKEN spends a start: after LIMIT_START_PER_USER the prober gets 429, taken or free alike', async () => {
    const [a, b] = [await verifiedOwner(), await verifiedOwner()];
    const prober = await signedInUser(api); // a free account, no address of its own
    const probe = (email: string) =>
      api.post('/v1/email/change', { token: prober.token, json: { email, auth: { method: 'password', password: prober.password } } });

    const answers = [];
    for (const email of [a.email, b.email, a.email.toUpperCase(), b.email]) answers.push(await probe(email));
    expect(answers.map((r) => r.status)).toEqual([...Array(STARTS_PER_USER).fill(409), 429]);
    expect(answers.map((r) => r.body.error.code)).toEqual([...Array(STARTS_PER_USER).fill('EMAIL_TAKEN'), 'RATE_LIMITED']);
    expect(answers.at(-1)!.body.error.message).toMatch(/email changes started/);

    // From now on the answer is the same whatever the address: a free one is refused like a taken one.
    const free = await probe(uniqueEmail('Free'));
    expect([free.status, free.body.error.code, free.body.error.message]).toEqual([429, 'RATE_LIMITED', answers.at(-1)!.body.error.message]);
    expect(Number(free.headers.get('retry-after'))).toBeGreaterThan(0);
    // Nothing was started, and the owners' addresses stay theirs.
    expect((await stack.pool.query('SELECT count(*)::int AS n FROM email_change_requests WHERE user_id = $1', [prober.id])).rows[0].n).toBe(0);
    for (const { owner, email } of [a, b]) expect((await api.get('/v1/me', { token: owner.token })).body).toMatchObject({ email, emailVerified: true });
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
