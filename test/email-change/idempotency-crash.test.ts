import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, call, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { spawnApi, type ChildApi } from '../helpers/api-process';
import { eventually, sleep } from '../helpers/services';
import { IDEMPOTENCY_LEASE_MS } from '../../src/api/idempotency';

let stack: TestStack;
let api: ApiClient;
const children: ChildApi[] = [];
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  await stack?.stop();
});

const start = (baseUrl: string, user: TestUser, email: string, key: string) =>
  call(baseUrl, 'POST', '/v1/email/change', { token: user.token, json: { email, auth: { method: 'password', password: user.password } }, headers: { 'idempotency-key': key } });

/**
 * Holds the user's row the way ReauthGuard.attempt wants it (FOR UPDATE), so a request blocks
 * inside re-authentication, before any effect. FOR NO KEY UPDATE still lets the idempotency
 * row's foreign-key check (FOR KEY SHARE) through, so the request has claimed its key.
 */
async function holdUserRow(user: TestUser): Promise<{ blocked(): Promise<boolean>; release(): Promise<void> }> {
  const db: pg.PoolClient = await stack.pool.connect();
  await db.query('BEGIN');
  await db.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [user.id]);
  const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return {
    blocked: async () => (await stack.pool.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [rows[0]!.pid])).rowCount! > 0,
    async release() {
      await db.query('ROLLBACK');
      db.release();
    },
  };
}

const requestRows = async (user: TestUser) => (await stack.pool.query<{ id: string }>('SELECT id FROM email_change_requests WHERE user_id = $1', [user.id])).rows;

describe('R-IDEM claims are leased', () => {
  it('the API is SIGKILLed with a request in flight: a retry with the same key on another API is processed within a lease, once', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('api-killed');
    const doomed = await spawnApi(stack.env);
    children.push(doomed);
    await doomed.ready;

    const row = await holdUserRow(user);
    const inFlight = start(doomed.baseUrl, user, email, 'killed-mid-request').then(
      (res) => `answered ${res.status}`,
      () => 'network error',
    );
    await eventually(async () => ((await row.blocked()) ? true : undefined), 15_000, 'the API blocks in re-authentication');
    const claim = (await stack.pool.query('SELECT status_code FROM idempotency_keys WHERE user_id = $1 AND key = $2', [user.id, 'killed-mid-request'])).rows;
    expect(claim).toEqual([{ status_code: null }]);

    expect(await doomed.kill()).toBe('SIGKILL');
    expect(await inFlight).toBe('network error');
    await row.release();

    const startedAt = Date.now();
    const retry = await start(stack.baseUrl, user, email, 'killed-mid-request');
    expect(retry.status, retry.text).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(Date.now() - startedAt).toBeLessThan(IDEMPOTENCY_LEASE_MS + 3_000);

    await stack.smtp.waitForMessage(email);
    await sleep(1_000);
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
    expect(await requestRows(user)).toEqual([{ id: retry.body.change.id }]);
    const again = await start(stack.baseUrl, user, email, 'killed-mid-request');
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([202, 'true']);
    expect(again.body).toEqual(retry.body);
  });

  it('a live owner renews its lease: a duplicate that waits longer than a lease replays its answer and does not take over', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('slow-owner');
    const row = await holdUserRow(user);
    const first = start(stack.baseUrl, user, email, 'slow-owner');
    await eventually(async () => ((await row.blocked()) ? true : undefined), 15_000, 'the first request blocks in re-authentication');
    const duplicate = start(stack.baseUrl, user, email, 'slow-owner');
    await sleep(IDEMPOTENCY_LEASE_MS + 2_000);
    await row.release();

    const [a, b] = await Promise.all([first, duplicate]);
    expect([a.status, b.status], `${a.text} ${b.text}`).toEqual([202, 202]);
    expect([a.headers.get('idempotent-replayed'), b.headers.get('idempotent-replayed')]).toEqual([null, 'true']);
    expect(b.body).toEqual(a.body);
    await stack.smtp.waitForMessage(email);
    await sleep(1_000);
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
    expect(await requestRows(user)).toHaveLength(1);
  });
});
