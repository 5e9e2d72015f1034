import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type pg from 'pg';
import { hashPassword } from '../../src/accounts/passwords';

export const BENCH_PASSWORD = 'correct horse battery staple';

export interface BenchUser {
  id: string;
  username: string;
  token: string;
  /** Set when the user was seeded with a verified address. */
  email: string | null;
  /** The user's registered device (biometric re-authentication), holding the run's device key. */
  deviceId: string;
}

/** One ECDSA P-256 key pair for every bench user's device, as the password hash is shared: each start still gets and signs a fresh challenge. */
const deviceKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const devicePublicJwk = JSON.stringify(deviceKey.publicKey.export({ format: 'jwk' }));

/** What the phone does once the biometric prompt unlocks the key: sign the challenge (raw r‖s, as WebCrypto). */
export function signChallenge(challenge: string, key: KeyObject = deviceKey.privateKey): string {
  return sign('sha256', Buffer.from(challenge, 'base64url'), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
}

/**
 * Signed-in users straight in PostgreSQL: sign-up and sign-in cost two argon2id computations
 * each and are not what is measured. Every user gets the same (real, argon2id) password hash,
 * so each re-authentication still does the full argon2id verification, and a registered device
 * with the run's key, so each biometric start verifies a real signature over a fresh challenge.
 */
export class UserFactory {
  private hash: Promise<string> | undefined;
  private counter = 0;
  readonly tag = `b${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

  constructor(private readonly pool: pg.Pool) {}

  /** `count` new users; `verifiedEmail` gives each a verified address (for re-authentication without a workflow). */
  async create(count: number, opts: { verifiedEmail?: boolean } = {}): Promise<BenchUser[]> {
    this.hash ??= hashPassword(BENCH_PASSWORD);
    const passwordHash = await this.hash;
    const users: BenchUser[] = [];
    for (let offset = 0; offset < count; offset += 5_000) {
      const batch = Math.min(5_000, count - offset);
      const names: string[] = [];
      const emails: (string | null)[] = [];
      for (let i = 0; i < batch; i++) {
        const n = this.counter++;
        names.push(`${this.tag}_${n}`);
        emails.push(opts.verifiedEmail ? `${this.tag}.${n}.verified@bench.example.com` : null);
      }
      const { rows } = await this.pool.query<{ id: string; username: string; email: string | null }>(
        `INSERT INTO users (username, password_hash, email, email_normalized, email_verified, email_verified_at)
         SELECT u, $2, e, lower(e), e IS NOT NULL, CASE WHEN e IS NOT NULL THEN now() END
         FROM unnest($1::text[], $3::text[]) AS t(u, e)
         RETURNING id, username, email`,
        [names, passwordHash, emails],
      );
      const tokens = rows.map(() => randomBytes(32).toString('base64url'));
      await this.pool.query(
        `INSERT INTO sessions (token_hash, user_id, expires_at)
         SELECT decode(h, 'hex'), id, now() + interval '2 days' FROM unnest($1::text[], $2::uuid[]) AS t(h, id)`,
        [tokens.map((t) => createHash('sha256').update(t).digest('hex')), rows.map((r) => r.id)],
      );
      const devices = await this.pool.query<{ id: string; userId: string }>(
        `INSERT INTO devices (user_id, name, public_key) SELECT id, 'Bench phone', $2::jsonb FROM unnest($1::uuid[]) AS t(id)
         RETURNING id, user_id AS "userId"`,
        [rows.map((r) => r.id), devicePublicJwk],
      );
      const deviceOf = new Map(devices.rows.map((d) => [d.userId, d.id]));
      rows.forEach((row, i) => users.push({ id: row.id, username: row.username, token: tokens[i]!, email: row.email, deviceId: deviceOf.get(row.id)! }));
    }
    return users;
  }

  /** A fresh address for a user (unique in this run). */
  email(user: BenchUser, domain = 'bench.example.com'): string {
    return `${user.username.toLowerCase()}.${this.counter++}@${domain}`;
  }
}
