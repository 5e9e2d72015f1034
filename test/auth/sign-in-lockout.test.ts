import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { AUTH_TEST_ENV, fakeIp, proxiedClient, observable, signInFrom, unknownUsername } from './clients';

/**
 * Issue 9, item 1: sign-in was an uncounted password oracle. Someone holding a stolen session
 * (the username is in GET /v1/me) could guess the password through POST /v1/sessions without
 * limit, even while re-authentication was locked, then re-authenticate. Now a wrong sign-in at
 * an existing account is one of its R-LOCK tries, and a locked account refuses the right
 * password with the very answer a wrong one gets.
 */

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  // The back-off has its own tests (sign-in-backoff.test.ts): here it stays out of the way.
  stack = await startStack({ ...AUTH_TEST_ENV, AUTH_MAX_FAILURES: '5', AUTH_LOCKOUT: '15m', SIGNIN_FREE_FAILURES_PER_USERNAME: '100' });
  api = proxiedClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const WRONG = { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'Wrong username or password' } }, retryAfter: null };
const lockOf = async (user: TestUser) => (await api.get('/v1/email/change', { token: user.token })).body.lock;
const reauth = (user: TestUser, password: string) =>
  api.post('/v1/email/change', { token: user.token, json: { email: uniqueEmail('signin-lock'), auth: { method: 'password', password } } });

describe('sign-in counts towards the re-authentication lock', () => {
  it('wrong sign-ins lower attemptsLeft; the fifth locks re-authentication', async () => {
    const user = await signedInUser(api);
    for (let i = 1; i <= 5; i++) {
      expect(observable(await signInFrom(api, fakeIp(), user.username, `wrong password ${i}`))).toEqual(WRONG);
      const lock = await lockOf(user);
      expect(lock.attemptsLeft).toBe(5 - i);
      expect(lock.locked).toBe(i === 5);
    }
    const right = await reauth(user, user.password);
    expect(right.status).toBe(423);
    expect(right.body.error.code).toBe('LOCKED');
  });

  it('while locked, the right password gets exactly the wrong-password answer and no session', async () => {
    const user = await signedInUser(api);
    const sessionsBefore = (await stack.pool.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [user.id])).rows[0].n;
    for (let i = 0; i < 5; i++) await reauth(user, 'wrong password');
    expect((await lockOf(user)).locked).toBe(true);

    const right = observable(await signInFrom(api, fakeIp(), user.username, user.password));
    const wrong = observable(await signInFrom(api, fakeIp(), user.username, 'wrong password'));
    const unknown = observable(await signInFrom(api, fakeIp(), unknownUsername(), user.password));
    expect(right).toEqual(WRONG);
    expect(wrong).toEqual(WRONG);
    expect(unknown).toEqual(WRONG);
    expect((await stack.pool.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [user.id])).rows[0].n).toBe(sessionsBefore);

    // Once the lock has expired, the right password signs in again.
    await stack.pool.query("UPDATE users SET locked_until = now() - interval '1 second' WHERE id = $1", [user.id]);
    expect((await signInFrom(api, fakeIp(), user.username, user.password)).status).toBe(201);
    expect(await lockOf(user)).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 5 });
  });

  it('a right sign-in clears earlier failures, like a right re-authentication', async () => {
    const user = await signedInUser(api);
    await signInFrom(api, fakeIp(), user.username, 'wrong password');
    await signInFrom(api, fakeIp(), user.username, 'wrong password');
    expect((await lockOf(user)).attemptsLeft).toBe(3);
    expect((await signInFrom(api, fakeIp(), user.username.toUpperCase(), user.password)).status).toBe(201);
    expect((await lockOf(user)).attemptsLeft).toBe(5);
  });
});
