/**
 * Example client for biometric re-authentication, as a mobile app does it with WebCrypto:
 * make an ECDSA P-256 key (on a phone it lives in the secure enclave, unlocked by the
 * biometric prompt), register its public half, then sign a fresh challenge to start a change.
 *
 *   npx tsx scripts/biometric-client.ts http://localhost:3000 alice 'correct horse battery' new@example.com
 */
import type { webcrypto } from 'node:crypto';

export interface DeviceKey {
  keyPair: webcrypto.CryptoKeyPair;
  publicJwk: webcrypto.JsonWebKey;
}

export async function makeDeviceKey(): Promise<DeviceKey> {
  const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  return { keyPair, publicJwk: { kty, crv, x, y } };
}

/** WebCrypto's ECDSA signature is raw r‖s (64 bytes); the server also accepts DER. */
export async function signChallenge(key: DeviceKey, challengeB64url: string): Promise<string> {
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.keyPair.privateKey, Buffer.from(challengeB64url, 'base64url'));
  return Buffer.from(signature).toString('base64url');
}

async function call(base: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function main(base: string, username: string, password: string, email: string) {
  const { token } = await call(base, 'POST', '/v1/sessions', undefined, { username, password });
  const key = await makeDeviceKey();
  const device = await call(base, 'POST', '/v1/devices', token, { name: 'Example phone', publicKey: key.publicJwk, password });
  console.log('registered device', device);
  const { challengeId, challenge } = await call(base, 'POST', '/v1/auth/challenges', token, { deviceId: device.id });
  const signature = await signChallenge(key, challenge);
  const started = await call(base, 'POST', '/v1/email/change', token, {
    email,
    auth: { method: 'biometric', deviceId: device.id, challengeId, signature },
  });
  console.log('started change', started.change);
}

if (require.main === module) {
  const [base = 'http://localhost:3000', username, password, email] = process.argv.slice(2);
  if (!username || !password || !email) {
    console.error('usage: tsx scripts/biometric-client.ts <base-url> <username> <password> <new-email>');
    process.exit(2);
  }
  main(base, username, password, email).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
