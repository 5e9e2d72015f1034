import type pg from 'pg';
import { AppError } from '../api/errors';

export interface LockStatus {
  locked: boolean;
  lockedUntil: string | null;
  attemptsLeft: number;
}

export interface LockPolicy {
  maxFailures: number;
  failureWindowMs: number;
  lockoutMs: number;
}

// Failures count inside the window; an expired window or an expired lock starts the count again.
const EFFECTIVE_FAILURES = `CASE WHEN auth_window_start IS NULL
    OR auth_window_start <= now() - $2 * interval '1 millisecond'
    OR (locked_until IS NOT NULL AND locked_until <= now())
  THEN 0 ELSE auth_failures END`;

/**
 * R-LOCK. Each re-authentication first *claims* a try in one atomic UPDATE (counted as a failure
 * until it succeeds), so concurrent wrong proofs can never exceed AUTH_MAX_FAILURES tries; the
 * claim that uses the last try sets the lock, and a success clears it all.
 */
export class ReauthGuard {
  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: LockPolicy,
  ) {}

  async status(userId: string): Promise<LockStatus> {
    const { rows } = await this.pool.query<{ failures: number; lockedUntil: Date | null }>(
      `SELECT ${EFFECTIVE_FAILURES} AS failures, CASE WHEN locked_until > now() THEN locked_until END AS "lockedUntil"
       FROM users WHERE id = $1`,
      [userId, this.policy.failureWindowMs],
    );
    const row = rows[0];
    const lockedUntil = row?.lockedUntil ?? null;
    return {
      locked: lockedUntil !== null,
      lockedUntil: lockedUntil?.toISOString() ?? null,
      attemptsLeft: lockedUntil ? 0 : Math.max(0, this.policy.maxFailures - (row?.failures ?? 0)),
    };
  }

  /** Runs `prove` as one counted try; throws LOCKED (423) or REAUTH_FAILED (403) per R-LOCK. */
  async attempt(userId: string, prove: () => Promise<boolean>): Promise<void> {
    const claimed = await this.pool.query<{ failures: number; lockedUntil: Date | null }>(
      `WITH cur AS (SELECT id, ${EFFECTIVE_FAILURES} AS failures, locked_until FROM users WHERE id = $1 FOR UPDATE)
       UPDATE users u SET
         auth_failures = cur.failures + 1,
         auth_window_start = CASE WHEN cur.failures = 0 THEN now() ELSE u.auth_window_start END,
         locked_until = CASE WHEN cur.failures + 1 >= $3 THEN now() + $4 * interval '1 millisecond' END
       FROM cur
       WHERE u.id = cur.id AND NOT coalesce(cur.locked_until > now(), false) AND cur.failures < $3
       RETURNING u.auth_failures AS failures, u.locked_until AS "lockedUntil"`,
      [userId, this.policy.failureWindowMs, this.policy.maxFailures, this.policy.lockoutMs],
    );
    const claim = claimed.rows[0];
    if (!claim) throw this.lockedError((await this.status(userId)).lockedUntil);

    if (await prove()) {
      await this.pool.query('UPDATE users SET auth_failures = 0, auth_window_start = NULL, locked_until = NULL WHERE id = $1', [userId]);
      return;
    }
    if (claim.lockedUntil) throw this.lockedError(claim.lockedUntil.toISOString());
    const attemptsLeft = this.policy.maxFailures - claim.failures;
    throw new AppError(403, 'REAUTH_FAILED', `Re-authentication failed; ${attemptsLeft} attempt(s) left before a temporary lock`, { attemptsLeft });
  }

  private lockedError(lockedUntil: string | null): AppError {
    return new AppError(423, 'LOCKED', 'Too many failed re-authentications; try again later', { lockedUntil, attemptsLeft: 0 });
  }
}
