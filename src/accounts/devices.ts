import { createPublicKey, randomBytes, verify, type JsonWebKey } from 'node:crypto';
import type pg from 'pg';
import { AppError } from '../api/errors';

export interface Device {
  id: string;
  name: string;
  createdAt: Date;
}

export interface BiometricProof {
  method: 'biometric';
  deviceId: string;
  challengeId: string;
  signature: string;
}

const CHALLENGE_TTL_MS = 2 * 60_000;

/** An ECDSA P-256 public JWK, or a 400 saying what is wrong with it. */
export function parsePublicKey(jwk: unknown): JsonWebKey {
  const key = jwk as JsonWebKey;
  if (typeof key !== 'object' || key === null || key.kty !== 'EC' || key.crv !== 'P-256' || typeof key.x !== 'string' || typeof key.y !== 'string') {
    throw new AppError(400, 'VALIDATION_FAILED', 'publicKey must be an ECDSA P-256 public key as a JWK ({ kty: "EC", crv: "P-256", x, y })');
  }
  if ('d' in key) throw new AppError(400, 'VALIDATION_FAILED', 'publicKey contains a private key; send only the public part');
  try {
    createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y }, format: 'jwk' });
  } catch {
    throw new AppError(400, 'VALIDATION_FAILED', 'publicKey is not a point on P-256');
  }
  return { kty: 'EC', crv: 'P-256', x: key.x, y: key.y };
}

/** Checks an ECDSA P-256/SHA-256 signature given as raw r‖s (WebCrypto) or DER (Android, iOS). */
export function verifySignature(jwk: JsonWebKey, data: Buffer, signatureB64url: string): boolean {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(signatureB64url)) return false;
  const signature = Buffer.from(signatureB64url, 'base64url');
  const dsaEncoding = signature.length === 64 ? 'ieee-p1363' : 'der';
  try {
    return verify('sha256', data, { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding }, signature);
  } catch {
    return false;
  }
}

/** Device keys and their single-use challenges (R-AUTH, biometric). */
export class Devices {
  constructor(private readonly pool: pg.Pool) {}

  async register(userId: string, name: string, publicKey: JsonWebKey): Promise<Device> {
    const { rows } = await this.pool.query<Device>(
      'INSERT INTO devices (user_id, name, public_key) VALUES ($1, $2, $3) RETURNING id, name, created_at AS "createdAt"',
      [userId, name, JSON.stringify(publicKey)],
    );
    return rows[0]!;
  }

  async list(userId: string): Promise<Device[]> {
    const { rows } = await this.pool.query<Device>(
      'SELECT id, name, created_at AS "createdAt" FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at',
      [userId],
    );
    return rows;
  }

  async revoke(userId: string, deviceId: string): Promise<void> {
    const { rowCount } = await this.pool.query(
      'UPDATE devices SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL',
      [deviceId, userId],
    );
    if (!rowCount) throw new AppError(404, 'NOT_FOUND', 'No such device');
  }

  async challenge(userId: string, deviceId: string): Promise<{ challengeId: string; challenge: string; expiresAt: string }> {
    const device = await this.pool.query('SELECT 1 FROM devices WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL', [deviceId, userId]);
    if (!device.rowCount) throw new AppError(404, 'NOT_FOUND', 'No such device');
    const challenge = randomBytes(32);
    const { rows } = await this.pool.query<{ id: string; expiresAt: Date }>(
      `INSERT INTO auth_challenges (user_id, device_id, challenge, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
       RETURNING id, expires_at AS "expiresAt"`,
      [userId, deviceId, challenge, CHALLENGE_TTL_MS],
    );
    return { challengeId: rows[0]!.id, challenge: challenge.toString('base64url'), expiresAt: rows[0]!.expiresAt.toISOString() };
  }

  /**
   * Uses up the challenge (whatever the outcome, so it can never be replayed) and checks the
   * signature with the key of a live device of this user. False for any failure.
   */
  async verifyProof(userId: string, proof: BiometricProof): Promise<boolean> {
    const { rows } = await this.pool.query<{ challenge: Buffer; publicKey: JsonWebKey }>(
      `UPDATE auth_challenges c SET used_at = now()
       FROM devices d
       WHERE c.id = $1 AND c.user_id = $2 AND c.device_id = $3 AND c.used_at IS NULL AND c.expires_at > now()
         AND d.id = c.device_id AND d.user_id = $2 AND d.revoked_at IS NULL
       RETURNING c.challenge, d.public_key AS "publicKey"`,
      [proof.challengeId, userId, proof.deviceId],
    );
    const row = rows[0];
    return row ? verifySignature(row.publicKey, row.challenge, proof.signature) : false;
  }
}
