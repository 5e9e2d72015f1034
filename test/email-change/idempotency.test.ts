import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { PASSWORD_PROOF } from '../helpers/flow';
import { startExtraApi, TEST_TOKEN_SECRET } from '../helpers/services';
import { fingerprintKey, requestFingerprint } from '../../src/api/idempotency';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ RESEND_COOLDOWN: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const start = (user: TestUser, email: string, key?: string, password = user.password, client = api) =>
  client.post('/v1/email/change', { token: user.token, json: { email, auth: { method: 'password', password } }, headers: key ? { 'idempotency-key': key } : {} });
const keyRow = async (user: TestUser, key: string) =>
  (await stack.pool.query('SELECT * FROM idempotency_keys WHERE user_id = $1 AND key = $2', [user.id, key])).rows[0];
const authFailures = async (user: TestUser) => (await stack.pool.query('SELECT auth_failures FROM users WHERE id = $1', [user.id])).rows[0].auth_failures;

/** A signed-in user with a password of its own (signedInUser gives every user the same one). */
async function userWithPassword(password: string, client = api): Promise<TestUser> {
  const username = `idem_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const created = await client.post('/v1/users', { json: { username, password } });
  const session = await client.post('/v1/sessions', { json: { username, password } });
  expect([created.status, session.status], session.text).toEqual([201, 201]);
  return { id: created.body.id, username, password, token: session.body.token };
}

describe('R-IDEM Idempotency-Key', () => {
  it('the same key and body return the first answer and send no second mail', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('idem');
    const first = await start(user, email, 'key-1');
    const second = await start(user, email, 'key-1');
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    await stack.smtp.waitForMessage(email);
    await sleep(500);
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
    expect((await stack.pool.query('SELECT count(*) FROM email_change_requests WHERE user_id = $1', [user.id])).rows[0].count).toBe('1');
  });

  it('the same key with another body is 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const user = await signedInUser(api);
    expect((await start(user, uniqueEmail('a'), 'key-2')).status).toBe(202);
    const reused = await start(user, uniqueEmail('b'), 'key-2');
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('keys are per user and expire after 24h', async () => {
    const [a, b] = [await signedInUser(api), await signedInUser(api)];
    const email = uniqueEmail('scoped');
    const first = await start(a, email, 'shared-key');
    expect(first.status).toBe(202);
    expect((await start(b, uniqueEmail('other'), 'shared-key')).status).toBe(202);
    await stack.pool.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE user_id = $1", [a.id]);
    const afterExpiry = uniqueEmail('after-expiry');
    const fresh = await start(a, afterExpiry, 'shared-key');
    expect(fresh.status).toBe(202);
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
    // A new use of the key is a new change (its id is derived from the key's use, not the key alone), mailed to its address.
    expect(fresh.body.change).toMatchObject({ newEmail: afterExpiry, state: 'REQUESTED' });
    expect(fresh.body.change.id).not.toBe(first.body.change.id);
    await stack.smtp.waitForMessage(afterExpiry);
  });

  it('concurrent requests with one key produce one effect', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('concurrent');
    const results = await Promise.all(Array.from({ length: 5 }, () => start(user, email, 'key-concurrent')));
    expect(results.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(results.map((r) => r.body.change.id)).size).toBe(1);
    await stack.smtp.waitForMessage(email);
    await sleep(500);
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
  });

  it('resend with a key: a retry does not send another link', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('resend-key');
    await start(user, email);
    await stack.smtp.waitForMessage(email);
    await sleep(1_100);
    const opts = { token: user.token, headers: { 'idempotency-key': 'resend-1' } };
    const [r1, r2] = [await api.post('/v1/email/change/resend', opts), await api.post('/v1/email/change/resend', opts)];
    expect(r1.status).toBe(202);
    expect(r2.body).toEqual(r1.body);
    await stack.smtp.waitForMessage(email, { seen: 1 });
    await sleep(500);
    expect(stack.smtp.messagesTo(email)).toHaveLength(2);
  });

  it('UC08: the connection is cut after the server got the request; the retry gets the same change and one mail', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('cut');
    const body = JSON.stringify({ email, auth: PASSWORD_PROOF(user) });
    const url = new URL(`${stack.baseUrl}/v1/email/change`);
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}`, 'idempotency-key': 'flaky-network', 'content-length': Buffer.byteLength(body) },
      });
      req.on('error', () => resolve()); // the client sees a network error, never the answer
      req.on('response', () => resolve());
      req.end(body, () => setTimeout(() => req.destroy(new Error('network dropped')), 20));
    });
    // The server went on and made the change; wait for it to be recorded, then retry.
    await stack.smtp.waitForMessage(email);
    const retry = await start(user, email, 'flaky-network');
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const rows = await stack.pool.query('SELECT id FROM email_change_requests WHERE user_id = $1', [user.id]);
    expect(rows.rows.map((r) => r.id)).toEqual([retry.body.change.id]);
    await sleep(500);
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
  });

  // Issue #9 (R-IDEM contract change): only 2xx answers are kept. Before, a 4xx was stored and
  // replayed, so a key reused with another password was an uncounted oracle (422 vs replayed 202)
  // and a client could not retry its corrected request under the same key.
  it('a stored 202 is replayed to a wrong password under the same key, without any re-authentication', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('replay-no-auth');
    const first = await start(user, email, 'pw-right-then-wrong');
    expect(first.status).toBe(202);
    const replay = await start(user, email, 'pw-right-then-wrong', 'not the password');
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(await authFailures(user)).toBe(0);
    expect((await api.get('/v1/email/change', { token: user.token })).body.lock.attemptsLeft).toBe(stack.config.auth.maxFailures);
  });

  it('a 403 is not kept: each retry under the same key is re-authenticated and counted, and the right password is processed', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('wrong-then-right');
    const max = stack.config.auth.maxFailures;
    const wrong1 = await start(user, email, 'pw-wrong-then-right', 'wrong one');
    expect([wrong1.status, wrong1.body.error.details.attemptsLeft]).toEqual([403, max - 1]);
    expect(await keyRow(user, 'pw-wrong-then-right')).toBeUndefined();
    const wrong2 = await start(user, email, 'pw-wrong-then-right', 'wrong one');
    expect([wrong2.status, wrong2.body.error.details.attemptsLeft]).toEqual([403, max - 2]);
    expect(wrong2.headers.get('idempotent-replayed')).toBeNull();
    const right = await start(user, email, 'pw-wrong-then-right');
    expect(right.status, right.text).toBe(202);
    expect(right.headers.get('idempotent-replayed')).toBeNull();
    await stack.smtp.waitForMessage(email);
    expect((await start(user, email, 'pw-wrong-then-right')).headers.get('idempotent-replayed')).toBe('true');
  });

  it('the stored fingerprint is a keyed MAC of what was asked: equal for different passwords, different under another secret', async () => {
    const email = uniqueEmail('fingerprint');
    const [a, b] = [await userWithPassword('first password 1234'), await userWithPassword('second password 5678')];
    expect((await start(a, email, 'fp-a')).status).toBe(202);
    expect((await start(b, email, 'fp-b')).status).toBe(202);
    const [rowA, rowB] = [await keyRow(a, 'fp-a'), await keyRow(b, 'fp-b')];
    expect(rowA.fingerprint).toBe(rowB.fingerprint);
    expect(rowA.fingerprint).toBe(requestFingerprint(fingerprintKey(TEST_TOKEN_SECRET), 'POST', '/v1/email/change', { email }));
    for (const [user, row] of [[a, rowA], [b, rowB]] as const) {
      const body = JSON.stringify({ email, auth: { method: 'password', password: user.password } });
      expect(row.fingerprint).not.toBe(createHash('sha256').update(`POST /v1/email/change ${body}`).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(user.password);
    }

    const other = await startExtraApi(stack.env, { TOKEN_SECRET: 'another-server-secret-another-server-secret' });
    try {
      const c = await userWithPassword('first password 1234', apiClient(other.baseUrl));
      expect((await start(c, email, 'fp-c', c.password, apiClient(other.baseUrl))).status).toBe(202);
      expect((await keyRow(c, 'fp-c')).fingerprint).not.toBe(rowA.fingerprint);
    } finally {
      await other.stop();
    }
  });

  it('a malformed key is 400', async () => {
    const user = await signedInUser(api);
    const res = await start(user, uniqueEmail('badkey'), 'bad key with spaces');
    expect(res.status).toBe(400);
  });
});
