import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { makeDeviceKey, signChallenge } from '../../scripts/biometric-client';

/**
 * Issue 6, case 10: 50 wrong passwords, 50 wrong biometric proofs, or a mix of both, at once on
 * POST /v1/email/change never get more than AUTH_MAX_FAILURES (5) counted tries: 4 answer 403
 * REAUTH_FAILED, the rest 423 LOCKED, and the right password is refused too once the lock is set.
 */

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ AUTH_MAX_FAILURES: '5', AUTH_LOCKOUT: '15m', AUTH_FAILURE_WINDOW: '15m' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const start = (user: TestUser, auth: Record<string, unknown>) =>
  api.post('/v1/email/change', { token: user.token, json: { email: uniqueEmail('lockrace'), auth } });
const attempt = (user: TestUser, password: string) => start(user, { method: 'password', password });

type WrongProof = (user: TestUser, i: number) => Promise<Record<string, unknown>>;
const wrongPassword: WrongProof = async (_user, i) => ({ method: 'password', password: `wrong password ${i}` });

/** A registered device, and proofs over fresh challenges signed by another key (a failed biometric prompt). */
async function wrongBiometric(user: TestUser): Promise<WrongProof> {
  const key = await makeDeviceKey();
  const impostor = await makeDeviceKey();
  const device = await api.post('/v1/devices', { token: user.token, json: { name: 'Phone', publicKey: key.publicJwk, password: user.password } });
  expect(device.status, device.text).toBe(201);
  return async () => {
    const c = await api.post('/v1/auth/challenges', { token: user.token, json: { deviceId: device.body.id } });
    expect(c.status, c.text).toBe(201);
    return { method: 'biometric', deviceId: device.body.id, challengeId: c.body.challengeId, signature: await signChallenge(impostor, c.body.challenge) };
  };
}

const ROUNDS: [string, (user: TestUser) => Promise<WrongProof>][] = [
  ['wrong passwords', async () => wrongPassword],
  ['wrong passwords', async () => wrongPassword],
  ['wrong biometric proofs', wrongBiometric],
  ['half wrong passwords, half wrong biometric proofs', async (user) => {
    const bio = await wrongBiometric(user);
    return (u, i) => (i % 2 === 0 ? wrongPassword(u, i) : bio(u, i));
  }],
];

describe('50 parallel failed re-authentications', () => {
  it.each(ROUNDS)('%s: at most 5 counted tries, 4 × 403 then 423; nothing started', { timeout: 60_000 }, async (_name, makeProof) => {
    const user = await signedInUser(api);
    const proof = await makeProof(user);
    // Proofs (and their challenges) are made first, so the 50 attempts really arrive together.
    const proofs = await Promise.all(Array.from({ length: 50 }, (_, i) => proof(user, i)));
    const results = await Promise.all(proofs.map((auth) => start(user, auth)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s === 403)).toHaveLength(4);
    expect(statuses.filter((s) => s === 423)).toHaveLength(46);
    const left = results.filter((r) => r.status === 403).map((r) => r.body.error.details.attemptsLeft).sort();
    expect(left).toEqual([1, 2, 3, 4]);
    for (const r of results.filter((x) => x.status === 423)) {
      expect(r.body.error).toMatchObject({ code: 'LOCKED', details: { attemptsLeft: 0 } });
      expect(new Date(r.body.error.details.lockedUntil).getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);
    }
    const row = await stack.pool.query('SELECT auth_failures, locked_until FROM users WHERE id = $1', [user.id]);
    expect(row.rows[0].auth_failures).toBe(5);
    expect(row.rows[0].locked_until).not.toBeNull();

    expect((await attempt(user, user.password)).status).toBe(423);
    expect((await stack.pool.query('SELECT auth_failures FROM users WHERE id = $1', [user.id])).rows[0].auth_failures).toBe(5);
    expect((await stack.pool.query('SELECT count(*)::int AS n FROM email_change_requests WHERE user_id = $1', [user.id])).rows[0].n).toBe(0);
  });
});

/**
 * Issue 9, item 12: each try claims its place before the proof is checked, and the old claim that
 * took the last place set the lock, so parallel *right* passwords locked the account (27 × 423 of
 * 60). Only a confirmed failure may lock; a right proof that finds every place taken by tries under
 * way waits for one (AUTH_BUSY_WAIT) and, at worst, answers 429 — never 423.
 */
describe('60 parallel right passwords', () => {
  it('never lock the account: no 423, no 5xx; the count stays clear', { timeout: 120_000 }, async () => {
    const user = await signedInUser(api);
    const results = await Promise.all(Array.from({ length: 60 }, () => attempt(user, user.password)));
    const statuses = results.map((r) => r.status);
    const tally = [...new Set(statuses)].sort().map((s) => `${statuses.filter((x) => x === s).length}×${s}`);
    console.log(`[faults] 60 parallel right passwords: ${tally.join(', ')}`);
    expect(statuses.filter((s) => s === 423)).toEqual([]);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.every((s) => s === 202 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(0);
    for (const r of results.filter((x) => x.status === 429)) {
      expect(r.body.error.code).toBe('RATE_LIMITED');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const lock = (await api.get('/v1/email/change', { token: user.token })).body.lock;
    expect(lock).toEqual({ locked: false, lockedUntil: null, attemptsLeft: 5 });
    const row = await stack.pool.query('SELECT auth_failures, locked_until, auth_in_flight FROM users WHERE id = $1', [user.id]);
    expect(row.rows[0]).toEqual({ auth_failures: 0, locked_until: null, auth_in_flight: 0 });
  });
});
