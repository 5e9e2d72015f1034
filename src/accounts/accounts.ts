import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { AppError, unauthenticated } from '../api/errors';
import type { JwtVerifier } from '../auth/jwt';
import type { EmailAddress } from '../email-address';
import type { ExternalIdentities } from './external-identities';
import { hashPassword } from './passwords';

export interface User {
  id: string;
  username: string;
  email: string | null;
  emailNormalized: string | null;
  emailVerified: boolean;
  emailVerifiedAt: Date | null;
}

export interface Profile extends Omit<User, 'emailNormalized'> {
  previousEmails: { email: string; replacedAt: Date }[];
}

export const userColumns = (t: string) => `${t}.id, ${t}.username, ${t}.email, ${t}.email_normalized AS "emailNormalized",
  ${t}.email_verified AS "emailVerified", ${t}.email_verified_at AS "emailVerifiedAt"`;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Issue #14: the app's identity provider, whose access tokens sign users in beside (or instead of) sessions. */
export interface IdentityProviderAccess {
  verifier: JwtVerifier;
  identities: ExternalIdentities;
}

/** Accounts and bearer sessions (R-ME), and the users of the app's identity provider (issue #14). */
export class Accounts {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sessionTtlMs: number,
    readonly identityProvider?: IdentityProviderAccess,
    /** Built-in sessions sign in (AUTH_BUILTIN_ACCOUNTS); off, only the provider's access tokens do. */
    private readonly sessions = true,
  ) {}

  /**
   * The user behind a session token, and the session's id (issue #15: the session a change keeps);
   * 401 (`invalid_token`) when it is unknown, expired or sessions are off.
   */
  async userForSession(token: string): Promise<{ user: User; sessionId: string }> {
    const found = this.sessions ? await this.userForToken(token) : undefined;
    if (!found) throw unauthenticated('The session is unknown or has expired; sign in again', 'invalid_token');
    const { sessionId, ...user } = found;
    return { user, sessionId };
  }

  /** The user behind an access token of the app's identity provider (created on first sight); 401 when it is not acceptable. */
  async userForAccessToken(token: string): Promise<User> {
    if (!this.identityProvider) {
      throw unauthenticated('This service accepts no identity provider tokens; send a session token from POST /v1/sessions', 'invalid_token');
    }
    const claims = await this.identityProvider.verifier.verifyAccessToken(token);
    return this.identityProvider.identities.userFor(claims);
  }

  /**
   * Creates a user; an email given here is stored unverified, even one another account holds
   * verified: sign-up must not tell which addresses are accounts, and the address only becomes
   * this user's through verification, which declines a taken one (R-CONFLICT).
   */
  async createUser(input: { username: string; password: string; email?: EmailAddress } & Partial<Preferences>): Promise<User> {
    const passwordHash = await hashPassword(input.password);
    try {
      const { rows } = await this.pool.query<User>(
        `INSERT INTO users (username, password_hash, email, email_normalized, locale, time_zone)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${userColumns('users')}`,
        [input.username, passwordHash, input.email?.address ?? null, input.email?.normalized ?? null, input.locale ?? null, input.timeZone ?? null],
      );
      return rows[0]!;
    } catch (err) {
      if ((err as { constraint?: string }).constraint === 'users_username_key') {
        throw new AppError(409, 'USERNAME_TAKEN', 'This username is taken');
      }
      throw err;
    }
  }

  /**
   * The id and password hash behind a username (any case), for sign-in. An account without a
   * password (an identity provider's user) is no account to sign-in: its tries never count.
   */
  async credentials(username: string): Promise<{ id: string; passwordHash: string } | undefined> {
    const { rows } = await this.pool.query<{ id: string; passwordHash: string }>(
      'SELECT id, password_hash AS "passwordHash" FROM users WHERE lower(username) = lower($1) AND password_hash IS NOT NULL',
      [username],
    );
    return rows[0];
  }

  /** Opens a bearer session; only a SHA-256 of the token is stored. */
  async openSession(userId: string): Promise<{ token: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.sessionTtlMs);
    await this.pool.query('INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)', [sha256(token), userId, expiresAt]);
    return { token, expiresAt };
  }

  /** The user behind a bearer token, with the session's id, or undefined when the token is unknown or expired. */
  async userForToken(token: string): Promise<(User & { sessionId: string }) | undefined> {
    const { rows } = await this.pool.query<User & { sessionId: string }>(
      `SELECT ${userColumns('u')}, s.id AS "sessionId" FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.token_hash = $1 AND s.expires_at > now()`,
      [sha256(token)],
    );
    return rows[0];
  }

  /** The user's password hash; undefined for an unknown user or one without a password (issue #14). */
  async passwordHash(userId: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ hash: string | null }>('SELECT password_hash AS hash FROM users WHERE id = $1', [userId]);
    return rows[0]?.hash ?? undefined;
  }

  async getUser(userId: string): Promise<User | undefined> {
    const { rows } = await this.pool.query<User>(`SELECT ${userColumns('users')} FROM users WHERE id = $1`, [userId]);
    return rows[0];
  }

  async profile(userId: string): Promise<Profile> {
    const [user, history] = await Promise.all([
      this.getUser(userId),
      this.pool.query<{ email: string; replacedAt: Date }>(
        'SELECT email, replaced_at AS "replacedAt" FROM email_history WHERE user_id = $1 ORDER BY replaced_at DESC, id DESC',
        [userId],
      ),
    ]);
    if (!user) throw new AppError(404, 'NOT_FOUND', 'No such user');
    const { emailNormalized: _hidden, ...visible } = user;
    return { ...visible, previousEmails: history.rows };
  }

  /** True when another account holds this address verified (R-CONFLICT). */
  async isVerifiedElsewhere(normalized: string, exceptUserId?: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM users WHERE lower(email_normalized) = $1 AND email_verified AND id IS DISTINCT FROM $2',
      [normalized, exceptUserId ?? null],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Issue #15: the language and time zone of the account's pages and mail. */
  async preferences(userId: string): Promise<Preferences> {
    const { rows } = await this.pool.query<Preferences>('SELECT locale, time_zone AS "timeZone" FROM users WHERE id = $1', [userId]);
    return rows[0] ?? { locale: null, timeZone: null };
  }

  /** Sets the fields given (null clears one); the others stay. */
  async setPreferences(userId: string, changes: Partial<Preferences>): Promise<Preferences> {
    const { rows } = await this.pool.query<Preferences>(
      `UPDATE users SET locale = CASE WHEN $2 THEN $3 ELSE locale END, time_zone = CASE WHEN $4 THEN $5 ELSE time_zone END, updated_at = now()
       WHERE id = $1 RETURNING locale, time_zone AS "timeZone"`,
      [userId, changes.locale !== undefined, changes.locale ?? null, changes.timeZone !== undefined, changes.timeZone ?? null],
    );
    if (!rows[0]) throw new AppError(404, 'NOT_FOUND', 'No such user');
    return rows[0];
  }
}

/** Issue #15: the account's language (BCP 47) and time zone (IANA); null: the browser's language or English, and UTC. */
export interface Preferences {
  locale: string | null;
  timeZone: string | null;
}
