import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { makeDeviceKey, signChallenge, type DeviceKey } from '../../scripts/biometric-client';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

async function registerDevice(user: TestUser, key: DeviceKey, name = 'Phone') {
  const res = await api.post('/v1/devices', { token: user.token, json: { name, publicKey: key.publicJwk, password: user.password } });
  expect(res.status, res.text).toBe(201);
  return res.body.id as string;
}
async function challenge(user: TestUser, deviceId: string) {
  const res = await api.post('/v1/auth/challenges', { token: user.token, json: { deviceId } });
  expect(res.status, res.text).toBe(201);
  return res.body as { challengeId: string; challenge: string; expiresAt: string };
}
const startBiometric = (user: TestUser, auth: Record<string, unknown>, email = uniqueEmail('bio')) =>
  api.post('/v1/email/change', { token: user.token, json: { email, auth: { method: 'biometric', ...auth } } });

describe('R-AUTH biometric re-authentication', () => {
  it('register a key, get a challenge, sign it (raw r‖s from WebCrypto) and start a change', async () => {
    const user = await signedInUser(api);
    const key = await makeDeviceKey();
    const deviceId = await registerDevice(user, key);
    expect((await api.get('/v1/devices', { token: user.token })).body.devices).toEqual([{ id: deviceId, name: 'Phone', createdAt: expect.any(String) }]);
    const c = await challenge(user, deviceId);
    expect(Buffer.from(c.challenge, 'base64url')).toHaveLength(32);
    expect(new Date(c.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(120_000);
    const email = uniqueEmail('bio');
    const res = await startBiometric(user, { deviceId, challengeId: c.challengeId, signature: await signChallenge(key, c.challenge) }, email);
    expect(res.status).toBe(202);
    expect(res.body.change).toMatchObject({ state: 'REQUESTED', newEmail: email });
    const mail = await stack.smtp.waitForMessage(email);
    expect(mail.text).toContain('biometric device key');
  });

  it('accepts a DER signature, as Android and iOS make them', async () => {
    const user = await signedInUser(api);
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const res = await api.post('/v1/devices', { token: user.token, json: { name: 'Android', publicKey: jwk, password: user.password } });
    const c = await challenge(user, res.body.id);
    const der = sign('sha256', Buffer.from(c.challenge, 'base64url'), { key: privateKey, dsaEncoding: 'der' });
    expect(der.length).not.toBe(64);
    const started = await startBiometric(user, { deviceId: res.body.id, challengeId: c.challengeId, signature: der.toString('base64url') });
    expect(started.status).toBe(202);
  });

  it('failed, replayed, expired, foreign-device and revoked-device proofs count toward the lock; the password still works after', async () => {
    const user = await signedInUser(api);
    const key = await makeDeviceKey();
    const deviceId = await registerDevice(user, key);
    const other = await makeDeviceKey();
    const attemptsLeft = async () => (await api.get('/v1/email/change', { token: user.token })).body.lock.attemptsLeft;

    // 1. wrong key signs
    let c = await challenge(user, deviceId);
    let res = await startBiometric(user, { deviceId, challengeId: c.challengeId, signature: await signChallenge(other, c.challenge) });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'REAUTH_FAILED', details: { attemptsLeft: 4 } });

    // 2. replay of a challenge that was already used (successfully)
    c = await challenge(user, deviceId);
    const good = { deviceId, challengeId: c.challengeId, signature: await signChallenge(key, c.challenge) };
    expect((await startBiometric(user, good)).status).toBe(202);
    res = await startBiometric(user, good);
    expect(res.body.error).toMatchObject({ code: 'REAUTH_FAILED', details: { attemptsLeft: 4 } });

    // 3. expired challenge
    c = await challenge(user, deviceId);
    await stack.pool.query("UPDATE auth_challenges SET expires_at = now() - interval '1 second' WHERE id = $1", [c.challengeId]);
    res = await startBiometric(user, { deviceId, challengeId: c.challengeId, signature: await signChallenge(key, c.challenge) });
    expect(res.body.error.code).toBe('REAUTH_FAILED');

    // 4. another user's device and challenge
    const stranger = await signedInUser(api);
    const strangerKey = await makeDeviceKey();
    const strangerDevice = await registerDevice(stranger, strangerKey);
    const sc = await challenge(stranger, strangerDevice);
    res = await startBiometric(user, { deviceId: strangerDevice, challengeId: sc.challengeId, signature: await signChallenge(strangerKey, sc.challenge) });
    expect(res.body.error.code).toBe('REAUTH_FAILED');

    // 5. revoked device
    c = await challenge(user, deviceId);
    expect((await api.delete(`/v1/devices/${deviceId}`, { token: user.token })).status).toBe(204);
    res = await startBiometric(user, { deviceId, challengeId: c.challengeId, signature: await signChallenge(key, c.challenge) });
    expect(res.body.error).toMatchObject({ code: 'REAUTH_FAILED', details: { attemptsLeft: 1 } });
    expect(await attemptsLeft()).toBe(1);
    expect((await api.post('/v1/auth/challenges', { token: user.token, json: { deviceId } })).status).toBe(404);

    // UC03: biometric fails, try the password
    const fallback = await api.post('/v1/email/change', { token: user.token, json: { email: uniqueEmail('fallback'), auth: { method: 'password', password: user.password } } });
    expect(fallback.status).toBe(202);
    expect(await attemptsLeft()).toBe(5);
  });

  it('refuses bad keys and bad proofs with 4xx', async () => {
    const user = await signedInUser(api);
    const priv = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const privateJwk = await crypto.subtle.exportKey('jwk', priv.privateKey);
    const cases: unknown[] = [
      { kty: 'RSA', n: 'x', e: 'AQAB' },
      { kty: 'EC', crv: 'P-384', x: 'a', y: 'b' },
      { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' },
      privateJwk,
      'not an object',
    ];
    for (const publicKey of cases) {
      const res = await api.post('/v1/devices', { token: user.token, json: { name: 'x', publicKey, password: user.password } });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    const wrongPassword = await api.post('/v1/devices', { token: user.token, json: { name: 'x', publicKey: (await makeDeviceKey()).publicJwk, password: 'nope nope' } });
    expect(wrongPassword.status).toBe(403);
    expect((await api.post('/v1/auth/challenges', { token: user.token, json: { deviceId: 'nope' } })).status).toBe(400);
    expect((await api.delete('/v1/devices/00000000-0000-4000-8000-000000000000', { token: user.token })).status).toBe(404);
    const bad = await startBiometric(user, { deviceId: 'x', challengeId: 'y', signature: '!!' });
    expect(bad.status).toBe(400);
    expect((await stack.pool.query('SELECT count(*) FROM devices WHERE user_id = $1', [user.id])).rows[0].count).toBe('0');
  });
});
