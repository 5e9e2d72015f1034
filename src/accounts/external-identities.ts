import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { parseEmailAddress } from '../email-address';
import type { AccessClaims } from '../auth/jwt';
import { inTransaction } from '../db/pool';
import { userColumns, type User } from './accounts';

/**
 * Issue #14: users of the app's identity provider, one per (issuer, subject). A user is created
 * the first time one of its access tokens arrives, with the address the token says is current,
 * verified if the token says so and no other account holds it verified (R-CONFLICT). Later tokens
 * change nothing here: the address moves only through the email change flow, so a stale or wrong
 * claim can never replace a recovery address without re-authentication and link confirmation.
 */
export class ExternalIdentities {
  constructor(private readonly pool: pg.Pool) {}

  /** The user behind a verified access token, created on first sight (race-safe: one user per subject). */
  async userFor(claims: AccessClaims): Promise<User> {
    return (await this.find(this.pool, claims)) ?? this.create(claims);
  }

  /** The subject this user has at `issuer`, if it is one of the provider's users. */
  async subjectOf(userId: string, issuer: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ subject: string }>('SELECT subject FROM external_identities WHERE user_id = $1 AND issuer = $2', [userId, issuer]);
    return rows[0]?.subject;
  }

  private async find(db: pg.Pool | pg.PoolClient, claims: AccessClaims): Promise<User | undefined> {
    const { rows } = await db.query<User>(
      `SELECT ${userColumns('u')} FROM external_identities x JOIN users u ON u.id = x.user_id WHERE x.issuer = $1 AND x.subject = $2`,
      [claims.issuer, claims.subject],
    );
    return rows[0];
  }

  private async create(claims: AccessClaims): Promise<User> {
    const email = claims.email === undefined ? undefined : parseEmailAddress(claims.email);
    return inTransaction(this.pool, async (client) => {
      // First requests of one subject arriving together queue here; the first creates, the rest find its row.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`external-identity ${claims.issuer} ${claims.subject}`]);
      const existing = await this.find(client, claims);
      if (existing) return existing;
      const id = randomUUID();
      // A name sign-up can never take (":" is outside its alphabet); nobody signs in with it (no password).
      const username = `idp:${id}`;
      const insert = async (verified: boolean) =>
        (
          await client.query<User>(
            `INSERT INTO users (id, username, password_hash, email, email_normalized, email_verified, email_verified_at)
             VALUES ($1, $2, NULL, $3, $4, $5, CASE WHEN $5 THEN now() END) RETURNING ${userColumns('users')}`,
            [id, username, email?.address ?? null, email?.normalized ?? null, verified],
          )
        ).rows[0]!;
      let user: User;
      if (email && claims.emailVerified) {
        // Verified here only if no other account holds the address verified (the unique index decides, also under races).
        await client.query('SAVEPOINT verified');
        try {
          user = await insert(true);
        } catch (err) {
          if ((err as { constraint?: string }).constraint !== 'users_verified_email_key') throw err;
          await client.query('ROLLBACK TO SAVEPOINT verified');
          user = await insert(false);
        }
      } else {
        user = await insert(false);
      }
      await client.query('INSERT INTO external_identities (issuer, subject, user_id) VALUES ($1, $2, $3)', [claims.issuer, claims.subject, id]);
      return user;
    });
  }
}
