import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ AUTH_MAX_FAILURES: '5', AUTH_LOCKOUT: '15m' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const attempt = (user: TestUser, password: string, email = uniqueEmail('lock')) =>
  api.post('/v1/email/change', { token: user.token, json: { email, auth: { method: 'password', password } } });

describe('R-LOCK', () => {
  it('5 wrong passwords → 423 with lockedUntil; then even the right one is refused; status shows the lock', async () => {
    const user = await signedInUser(api);
    for (let i = 1; i <= 4; i++) {
      const res = await attempt(user, 'wrong password');
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: 'REAUTH_FAILED', details: { attemptsLeft: 5 - i } });
    }
    const fifth = await attempt(user, 'wrong password');
    expect(fifth.status).toBe(423);
    expect(fifth.body.error).toMatchObject({ code: 'LOCKED', details: { attemptsLeft: 0 } });
    const lockedUntil = new Date(fifth.body.error.details.lockedUntil).getTime();
    expect(lockedUntil).toBeGreaterThan(Date.now() + 14 * 60_000);

    const right = await attempt(user, user.password);
    expect(right.status).toBe(423);
    const status = await api.get('/v1/email/change', { token: user.token });
    expect(status.body).toEqual({ change: null, lock: { locked: true, lockedUntil: fifth.body.error.details.lockedUntil, attemptsLeft: 0 } });
    expect((await stack.pool.query('SELECT count(*) FROM email_change_requests WHERE user_id = $1', [user.id])).rows[0].count).toBe('0');
  });

  it('10 parallel wrong passwords never get more than the allowed tries', async () => {
    const user = await signedInUser(api);
    const results = await Promise.all(Array.from({ length: 10 }, () => attempt(user, 'wrong password')));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 403)).toHaveLength(4);
    expect(statuses.filter((s) => s === 423)).toHaveLength(6);
    const row = await stack.pool.query('SELECT auth_failures, locked_until FROM users WHERE id = $1', [user.id]);
    expect(row.rows[0].auth_failures).toBe(5);
    expect(row.rows[0].locked_until).not.toBeNull();
  });

  it('a success resets the count', async () => {
    const user = await signedInUser(api);
    await attempt(user, 'wrong password');
    await attempt(user, 'wrong password');
    expect((await api.get('/v1/email/change', { token: user.token })).body.lock).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 3 });
    const ok = await attempt(user, user.password);
    expect(ok.status).toBe(202);
    expect(ok.body.lock).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 5 });
    const next = await attempt(user, 'wrong password');
    expect(next.body.error.details.attemptsLeft).toBe(4);
  });

  it('an expired lock lets the user try again', async () => {
    const user = await signedInUser(api);
    for (let i = 0; i < 5; i++) await attempt(user, 'wrong password');
    await stack.pool.query("UPDATE users SET locked_until = now() - interval '1 second' WHERE id = $1", [user.id]);
    expect((await attempt(user, user.password)).status).toBe(202);
  });
});
