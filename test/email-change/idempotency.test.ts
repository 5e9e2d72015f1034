import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { PASSWORD_PROOF } from '../helpers/flow';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ RESEND_COOLDOWN: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const start = (user: TestUser, email: string, key?: string) =>
  api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) }, headers: key ? { 'idempotency-key': key } : {} });

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
    expect((await start(a, email, 'shared-key')).status).toBe(202);
    expect((await start(b, uniqueEmail('other'), 'shared-key')).status).toBe(202);
    await stack.pool.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE user_id = $1", [a.id]);
    const fresh = await start(a, uniqueEmail('after-expiry'), 'shared-key');
    expect(fresh.status).toBe(202);
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
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
    expect(r1.status).toBe(200);
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

  it('a malformed key is 400', async () => {
    const user = await signedInUser(api);
    const res = await start(user, uniqueEmail('badkey'), 'bad key with spaces');
    expect(res.status).toBe(400);
  });
});
