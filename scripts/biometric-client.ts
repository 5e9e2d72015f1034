/**
 * Example client for biometric re-authentication, as a mobile app does it with WebCrypto:
 * make an ECDSA P-256 key (on a phone it lives in the secure enclave, unlocked by the
 * biometric prompt), register its public half, then sign a fresh challenge to start a change.
 *
 *   npx tsx scripts/biometric-client.ts http://localhost:3000 alice 'correct horse battery' new@example.com
 */
import type { webcrypto } from 'node:crypto';
import { createEmailChangeClient } from '../src/client';

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

/** The answer's data, or an error naming the call and the R-ERR body. */
function ok<T>(what: string, answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data === undefined) throw new Error(`${what} → ${answer.response.status} ${JSON.stringify(answer.error)}`);
  return answer.data;
}

/** Signs in, registers a fresh device key, signs a challenge with it and starts a change: the typed client (src/client) end to end. */
export async function startWithBiometric(base: string, username: string, password: string, email: string) {
  const anonymous = createEmailChangeClient(base);
  const { token } = ok('sign in', await anonymous.POST('/v1/sessions', { body: { username, password } }));
  const api = createEmailChangeClient(base, { token });
  const key = await makeDeviceKey();
  const device = ok('register device', await api.POST('/v1/devices', { body: { name: 'Example phone', publicKey: { ...key.publicJwk }, password } }));
  const { challengeId, challenge } = ok('challenge', await api.POST('/v1/auth/challenges', { body: { deviceId: device.id } }));
  const signature = await signChallenge(key, challenge);
  const started = ok('start', await api.POST('/v1/email/change', { body: { email, auth: { method: 'biometric', deviceId: device.id, challengeId, signature } } }));
  return { device, started };
}

async function main(base: string, username: string, password: string, email: string) {
  const { device, started } = await startWithBiometric(base, username, password, email);
  console.log('registered device', device);
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
