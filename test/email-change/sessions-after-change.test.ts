import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail } from '../helpers/flow';

/**
 * Issue #15 item 5 over HTTP: an approved change of a verified address revokes every other session of
 * the account (REVOKE_SESSIONS_ON_CHANGE, default true) and keeps the one that asked for the change.
 */

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

async function twoSessionsAndAChange(s: TestStack, client: ApiClient) {
  const { user, email: oldEmail } = await userWithVerifiedEmail(client, s.smtp, 'sessions-old');
  const other = (await client.post('/v1/sessions', { json: { username: user.username, password: user.password } })).body.token as string;
  expect((await client.get('/v1/me', { token: other })).status).toBe(200); // both sessions work before
  const newEmail = uniqueEmail('sessions-new');
  await startChange(client, user, newEmail); // asked from the first session
  expect((await client.post('/v1/email/verify', { json: { token: await tokenFromMail(s.smtp, newEmail) } })).status).toBe(200);
  // Before the last confirmation nothing is revoked.
  expect((await client.get('/v1/me', { token: other })).status).toBe(200);
  const last = await client.post('/v1/email/verify', { json: { token: await tokenFromMail(s.smtp, oldEmail, 1) } });
  expect(last.body.state, last.text).toBe('APPROVED');
  return { user, other, newEmail };
}

describe('issue #15 item 5: sessions after an approved change', () => {
  it('the other session gets 401, the requesting one still works', async () => {
    const { user, other, newEmail } = await twoSessionsAndAChange(stack, api);
    const revoked = await api.get('/v1/me', { token: other });
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe('UNAUTHENTICATED');
    expect(revoked.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const kept = await api.get('/v1/me', { token: user.token });
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({ email: newEmail, emailVerified: true });
    // A new sign-in works as ever.
    expect((await api.post('/v1/sessions', { json: { username: user.username, password: user.password } })).status).toBe(201);
  });

  it('adding a first address (ADD) revokes nothing', async () => {
    const { user } = await userWithVerifiedEmail(api, stack.smtp, 'sessions-add');
    const other = (await api.post('/v1/sessions', { json: { username: user.username, password: user.password } })).body.token as string;
    expect((await api.get('/v1/me', { token: other })).status).toBe(200);
  });

  it('REVOKE_SESSIONS_ON_CHANGE=false keeps every session', async () => {
    const off = await startStack({ REVOKE_SESSIONS_ON_CHANGE: 'false' });
    try {
      const client = apiClient(off.baseUrl);
      const { other } = await twoSessionsAndAChange(off, client);
      expect((await client.get('/v1/me', { token: other })).status).toBe(200);
    } finally {
      await off.stop();
    }
  });
});
