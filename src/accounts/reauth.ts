import { createHash } from 'node:crypto';
import type pg from 'pg';
import { AppError } from '../api/errors';
import type { Accounts } from './accounts';
import type { BiometricProof, Devices } from './devices';
import type { ReauthGuard } from './lockout';
import { verifyPassword } from './passwords';

export interface PasswordProof {
  method: 'password';
  password: string;
}

/** Issue #14: a fresh sign-in at the app's identity provider, as its ID token. */
export interface IdTokenProof {
  method: 'idToken';
  idToken: string;
}

/** R-AUTH: what a request that needs a fresh proof of identity carries. */
export type ReauthProof = PasswordProof | BiometricProof | IdTokenProof;
export type ReauthMethod = ReauthProof['method'];

/** A method this account has no means for (no password, no device, not a provider's user): refused before any counted try. */
export const methodUnavailable = (method: ReauthMethod, methods: ReauthMethod[]) =>
  new AppError(
    400,
    'REAUTH_METHOD_UNAVAILABLE',
    `This account cannot re-authenticate with ${method === 'idToken' ? 'an ID token' : `a ${method}`}; ${methods.length ? `use ${methods.join(' or ')}` : 'it has no method set up'}`,
    { methods },
  );

/**
 * R-AUTH and R-LOCK for every method: a password, a device key's signature over a challenge, or
 * an ID token of the app's identity provider. Each proof is one counted try of the guard: a wrong
 * password, a bad signature, and a bad, stale, replayed or foreign ID token all count alike.
 */
export class Reauthentication {
  constructor(
    private readonly pool: pg.Pool,
    private readonly accounts: Accounts,
    private readonly devices: Devices,
    private readonly guard: ReauthGuard,
  ) {}

  /** The methods this account can use now. */
  async methods(userId: string): Promise<ReauthMethod[]> {
    const [hash, devices, subject] = await Promise.all([this.accounts.passwordHash(userId), this.devices.list(userId), this.subjectOf(userId)]);
    return [...(hash ? (['password'] as const) : []), ...(devices.length ? (['biometric'] as const) : []), ...(subject ? (['idToken'] as const) : [])];
  }

  /** One counted try with `proof`; throws REAUTH_METHOD_UNAVAILABLE (400, uncounted), REAUTH_FAILED (403), LOCKED (423) or RATE_LIMITED (429). */
  async verify(userId: string, proof: ReauthProof): Promise<void> {
    switch (proof.method) {
      case 'password': {
        const hash = await this.accounts.passwordHash(userId);
        if (!hash) throw methodUnavailable('password', await this.methods(userId));
        return this.guard.attempt(userId, () => verifyPassword(hash, proof.password));
      }
      case 'biometric':
        // A wrong or unknown device counts like a wrong password (as before issue #14): it may be a guess.
        return this.guard.attempt(userId, () => this.devices.verifyProof(userId, proof));
      case 'idToken': {
        const subject = await this.subjectOf(userId);
        if (!subject) throw methodUnavailable('idToken', await this.methods(userId));
        return this.guard.attempt(userId, () => this.verifyIdToken(userId, subject, proof.idToken));
      }
    }
  }

  private async subjectOf(userId: string): Promise<string | undefined> {
    const provider = this.accounts.identityProvider;
    return provider && provider.identities.subjectOf(userId, provider.verifier.issuer);
  }

  /** The ID token proves a fresh sign-in of this user's subject, and was not spent before (then it is spent). */
  private async verifyIdToken(userId: string, subject: string, idToken: string): Promise<boolean> {
    const accepted = await this.accounts.identityProvider!.verifier.verifyIdToken(idToken, subject);
    if (!accepted) return false;
    // Single use, like a biometric challenge: a token seen in transit or in a log proves nothing twice.
    const { rowCount } = await this.pool.query(
      `WITH forget AS (DELETE FROM used_id_tokens WHERE expires_at < now())
       INSERT INTO used_id_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (token_hash) DO NOTHING`,
      [createHash('sha256').update(idToken).digest(), userId, accepted.acceptableUntil],
    );
    return rowCount === 1;
  }
}
