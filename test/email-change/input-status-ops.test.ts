import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { decodeHistoryInPlace } from '../../src/codec/history-payloads';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const requestCount = async (user: TestUser) =>
  Number((await stack.pool.query('SELECT count(*) FROM email_change_requests WHERE user_id = $1', [user.id])).rows[0].count);

describe('bad input on the email endpoints → 4xx in the R-ERR shape, nothing written', () => {
  const good = (user: TestUser) => ({ email: uniqueEmail('ok'), auth: { method: 'password', password: user.password } });
  const bodies: [string, (u: TestUser) => unknown, number, string][] = [
    ['missing email', (u) => ({ auth: good(u).auth }), 400, 'VALIDATION_FAILED'],
    ['missing auth', () => ({ email: uniqueEmail() }), 400, 'VALIDATION_FAILED'],
    ['email a number', (u) => ({ ...good(u), email: 42 }), 400, 'VALIDATION_FAILED'],
    ['auth a string', (u) => ({ ...good(u), auth: 'password' }), 400, 'VALIDATION_FAILED'],
    ['unknown method', (u) => ({ ...good(u), auth: { method: 'magic' } }), 400, 'VALIDATION_FAILED'],
    ['CRLF in email', (u) => ({ ...good(u), email: 'a@example.com\r\nBcc: evil@example.com' }), 400, 'VALIDATION_FAILED'],
    ['NUL in email', (u) => ({ ...good(u), email: 'a\u0000b@example.com' }), 400, 'VALIDATION_FAILED'],
    ['300-char email', (u) => ({ ...good(u), email: `${'a'.repeat(60)}.${'b'.repeat(60)}@${'c'.repeat(170)}.com` }), 400, 'VALIDATION_FAILED'],
    // Issue #15 item 3: `jöhn@exämple.com` is an address now (test/email-change/international.test.ts); a mixed-script one is not.
    ['mixed-script email', (u) => ({ ...good(u), email: 'j\u043ehn@example.com' }), 400, 'VALIDATION_FAILED'],
    ['extra field', (u) => ({ ...good(u), admin: true }), 400, 'VALIDATION_FAILED'],
    ['an array', () => [1], 400, 'VALIDATION_FAILED'],
    ['huge body', (u) => ({ ...good(u), email: `${'x'.repeat(1024 * 1024)}@example.com` }), 413, 'PAYLOAD_TOO_LARGE'],
  ];
  it.each(bodies)('POST /v1/email/change: %s', async (_name, body, status, code) => {
    const user = await signedInUser(api);
    const res = await api.post('/v1/email/change', { token: user.token, json: body(user) });
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(await requestCount(user)).toBe(0);
    expect((await api.get('/v1/email/change', { token: user.token })).body.lock.attemptsLeft).toBe(5); // no try was spent
  });

  it('broken JSON and no session', async () => {
    const user = await signedInUser(api);
    expect((await api.post('/v1/email/change', { token: user.token, raw: '{"email":' })).body.error.code).toBe('VALIDATION_FAILED');
    for (const [method, path] of [['POST', '/v1/email/change'], ['GET', '/v1/email/change'], ['DELETE', '/v1/email/change'], ['POST', '/v1/email/change/resend'], ['GET', '/v1/email/availability?email=a@b.co']]) {
      const res = await api.request(method!, path!, { json: method === 'POST' ? good(user) : undefined });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHENTICATED');
    }
    expect(await requestCount(user)).toBe(0);
  });

  it('resend with a body it does not expect, and verify with the wrong shape', async () => {
    const user = await signedInUser(api);
    expect((await api.post('/v1/email/change/resend', { token: user.token, json: { force: true } })).status).toBe(400);
    expect((await api.post('/v1/email/verify', { json: { token: ['a'] } })).body.error.code).toBe('VALIDATION_FAILED');
    expect((await api.post('/v1/email/verify', { json: {} })).body.error.code).toBe('VALIDATION_FAILED');
  });

  it('concurrent duplicate starts with a wrong password write nothing', async () => {
    const user = await signedInUser(api);
    const body = { email: uniqueEmail('dup'), auth: { method: 'password', password: 'wrong password' } };
    const results = await Promise.all([1, 2, 3].map(() => api.post('/v1/email/change', { token: user.token, json: body })));
    expect(results.every((r) => r.status === 403)).toBe(true);
    expect(await requestCount(user)).toBe(0);
  });
});

describe('R-AVAIL', () => {
  it('answers available, invalid, taken and current with the normalised address', async () => {
    const owner = await signedInUser(api);
    const owned = uniqueEmail('Avail');
    await startChange(api, owner, owned);
    await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, owned) } });
    const user = await signedInUser(api);
    const check = (email: string, token = user.token) => api.get(`/v1/email/availability?email=${encodeURIComponent(email)}`, { token });

    const free = uniqueEmail('Free');
    expect((await check(free)).body).toEqual({ email: free.toLowerCase(), available: true });
    expect((await check('not an email')).body).toMatchObject({ available: false, reason: 'invalid' });
    expect((await check(owned.toUpperCase())).body).toEqual({ email: owned.toLowerCase(), available: false, reason: 'taken' });
    expect((await check(owned, owner.token)).body).toMatchObject({ available: false, reason: 'current' });
    expect((await api.get('/v1/email/availability', { token: user.token })).status).toBe(400);
  });

  it('is rate-limited per user', async () => {
    const user = await signedInUser(api);
    const results = [];
    for (let i = 0; i < 31; i++) results.push(await api.get(`/v1/email/availability?email=a${i}@example.com`, { token: user.token }));
    const last = results.at(-1)!;
    expect(results.slice(0, 30).every((r) => r.status === 200)).toBe(true);
    expect(last.status).toBe(429);
    expect(last.body.error.code).toBe('RATE_LIMITED');
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('R-STATUS at every step', () => {
  it('no change → pending → one confirmation → approved, in GET /v1/email/change and /v1/me', async () => {
    const user = await signedInUser(api);
    expect((await api.get('/v1/email/change', { token: user.token })).body).toEqual({
      change: null,
      lock: { locked: false, lockedUntil: null, attemptsLeft: 5 },
    });
    const email = uniqueEmail('status');
    const started = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    // The mail can land before the worker reports the send; the row says "sending" until then.
    const pending = (await waitForStatus(api, user, (b) => b.change?.delivery?.new?.status !== 'sending')).change;
    expect(pending).toMatchObject({
      id: started.id,
      state: 'REQUESTED',
      kind: 'ADD',
      newEmail: email,
      confirmations: { new: false, old: null },
      resendsLeft: 5,
      reason: null,
      reasonCode: null,
    });
    expect(pending.delivery.new).toMatchObject({ status: 'sent', attempts: 1 });
    expect(new Date(pending.linkExpiresAt).getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(new Date(pending.expiresAt).getTime() - new Date(pending.createdAt).getTime()).toBe(24 * 3_600_000);
    expect(new Date(pending.resendAvailableAt).getTime()).toBe(new Date(pending.createdAt).getTime() + 60_000);
    expect((await api.get('/v1/me', { token: user.token })).body.pendingChange).toMatchObject({ id: started.id, state: 'REQUESTED' });

    await api.post('/v1/email/verify', { json: { token } });
    const done = (await api.get('/v1/email/change', { token: user.token })).body.change;
    expect(done).toMatchObject({ id: started.id, state: 'APPROVED', confirmations: { new: true, old: null }, linkExpiresAt: null, resendAvailableAt: null });
    expect(done.delivery.new.status).toBe('sent');
    expect((await api.get('/v1/me', { token: user.token })).body.pendingChange).toBeNull();
  });
});

describe('R-OPS operators', () => {
  it('runs are searchable by user id and state; no email address or token in search attributes or history', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('ops');
    await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    await api.post('/v1/email/verify', { json: { token } });
    const handle = stack.temporal.workflow.getHandle(`email-change-${user.id}`);
    await handle.result();

    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.userId.key)).toBe(user.id);
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.state.key)).toBe('APPROVED');
    const attributes = JSON.stringify(described.searchAttributes);
    expect(attributes).not.toContain(email);

    // The list query an operator types in the UI finds it (visibility is eventually consistent).
    const query = `EmailChangeUserId = "${user.id}" AND EmailChangeState = "APPROVED"`;
    let found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = [];
      for await (const wf of stack.temporal.workflow.list({ query })) found.push(wf.workflowId);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toEqual([`email-change-${user.id}`]);

    // Payloads decrypted and their bytes decoded to text, so a token anywhere in an input, result or failure would show.
    const history = JSON.stringify(await decodeHistoryInPlace(await handle.fetchHistory(), new EncryptionCodec(stack.config.payloadKeys)), (k, v) =>
      v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
    expect(history).toContain(email); // the decoding works: the request's input is there
    expect(history).not.toContain(token);
    expect(history).not.toContain(stack.config.tokenSecret);
  });
});
