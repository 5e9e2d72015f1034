import type pg from 'pg';
import { AppError } from '../api/errors';
import { rateLimited } from '../auth/rate-limits';

export interface LockStatus {
  locked: boolean;
  lockedUntil: string | null;
  attemptsLeft: number;
}

/** What lockColumns reads. */
export interface LockFacts {
  failures: number;
  lockedUntil: Date | null;
}

export interface LockPolicy {
  maxFailures: number;
  failureWindowMs: number;
  lockoutMs: number;
  /** How long a try that finds every try taken by tries under way waits for one to finish. */
  busyWaitMs: number;
}

/** What one counted try came to. */
export type ProofOutcome =
  | { kind: 'passed' }
  | { kind: 'failed'; attemptsLeft: number; lockedUntil: string | null }
  | { kind: 'locked'; lockedUntil: string | null }
  | { kind: 'busy' };

// Failures count inside the window; an expired window or an expired lock starts the count again.
const EFFECTIVE_FAILURES = `CASE WHEN auth_window_start IS NULL
    OR auth_window_start <= now() - $2 * interval '1 millisecond'
    OR (locked_until IS NOT NULL AND locked_until <= now())
  THEN 0 ELSE auth_failures END`;
// A try under way for longer than this died with its process; it no longer holds a place.
const EFFECTIVE_IN_FLIGHT = `CASE WHEN auth_in_flight_at > now() - interval '30 seconds' THEN auth_in_flight ELSE 0 END`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * R-LOCK, for re-authentication and sign-in alike. A try first claims a place in one atomic
 * UPDATE: confirmed failures plus tries under way never exceed AUTH_MAX_FAILURES, so parallel
 * wrong proofs get no extra tries. Only a confirmed failure can set the lock, so parallel right
 * proofs never lock the account; a try that finds every place taken by tries under way waits
 * for them. A success clears the count and the lock.
 */
export class ReauthGuard {
  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: LockPolicy,
  ) {}

  async status(userId: string): Promise<LockStatus> {
    const { rows } = await this.pool.query<LockFacts>(`SELECT ${this.lockColumns.sql} FROM users WHERE id = $1`, [userId, ...this.lockColumns.params]);
    return this.statusOf(rows[0]);
  }

  /**
   * The columns status() reads from a `users` row, for a caller that reads the row anyway (issue #12:
   * a status read asks PostgreSQL once for the request and the lock); `params` follow the user id ($1).
   */
  get lockColumns(): { sql: string; params: unknown[] } {
    return { sql: `${EFFECTIVE_FAILURES} AS failures, CASE WHEN locked_until > now() THEN locked_until END AS "lockedUntil"`, params: [this.policy.failureWindowMs] };
  }

  /** R-LOCK's view of those columns (no row: nothing counted). */
  statusOf(row: LockFacts | undefined): LockStatus {
    const lockedUntil = row?.lockedUntil ?? null;
    return {
      locked: lockedUntil !== null,
      lockedUntil: lockedUntil?.toISOString() ?? null,
      attemptsLeft: lockedUntil ? 0 : Math.max(0, this.policy.maxFailures - (row?.failures ?? 0)),
    };
  }

  /** Runs `prove` as one counted try; throws LOCKED (423), REAUTH_FAILED (403) or, when it waited in vain, RATE_LIMITED (429). */
  async attempt(userId: string, prove: () => Promise<boolean>): Promise<void> {
    const outcome = await this.tryProof(userId, prove, this.policy.busyWaitMs);
    switch (outcome.kind) {
      case 'passed':
        return;
      case 'locked':
        throw lockedError(outcome.lockedUntil);
      case 'busy':
        throw rateLimited('Other re-authentications of this account are under way; try again shortly', 1_000);
      case 'failed':
        if (outcome.lockedUntil) throw lockedError(outcome.lockedUntil);
        throw new AppError(403, 'REAUTH_FAILED', `Re-authentication failed; ${outcome.attemptsLeft} attempt(s) left before a temporary lock`, {
          attemptsLeft: outcome.attemptsLeft,
        });
    }
  }

  /** Runs `prove` as one counted try, waiting up to `waitMs` for a place, and tells how it went. */
  async tryProof(userId: string, prove: () => Promise<boolean>, waitMs: number): Promise<ProofOutcome> {
    const deadline = Date.now() + waitMs;
    for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
      const claim = await this.claim(userId);
      if (claim.kind === 'claimed') break;
      if (claim.kind === 'locked') return claim;
      if (Date.now() + pause > deadline) return { kind: 'busy' };
      await sleep(pause / 2 + Math.random() * pause);
    }
    let passed: boolean;
    try {
      passed = await prove();
    } catch (err) {
      await this.pool.query(`UPDATE users SET auth_in_flight = greatest(${EFFECTIVE_IN_FLIGHT} - 1, 0) WHERE id = $1`, [userId]);
      throw err;
    }
    if (passed) {
      await this.pool.query(
        `UPDATE users SET auth_failures = 0, auth_window_start = NULL, locked_until = NULL,
           auth_in_flight = greatest(${EFFECTIVE_IN_FLIGHT} - 1, 0) WHERE id = $1`,
        [userId],
      );
      return { kind: 'passed' };
    }
    return this.confirmFailure(userId);
  }

  /** Takes a place for one try unless the account is locked or every place is taken. */
  private async claim(userId: string): Promise<{ kind: 'claimed' } | { kind: 'locked'; lockedUntil: string | null } | { kind: 'busy' }> {
    const { rows } = await this.pool.query<{ lockedUntil: Date | null; claimed: boolean }>(
      `WITH cur AS (
         SELECT id, ${EFFECTIVE_FAILURES} AS failures, ${EFFECTIVE_IN_FLIGHT} AS in_flight,
           CASE WHEN locked_until > now() THEN locked_until END AS locked_until
         FROM users WHERE id = $1 FOR UPDATE),
       claimed AS (
         UPDATE users u SET auth_in_flight = cur.in_flight + 1, auth_in_flight_at = now(), auth_failures = cur.failures,
           auth_window_start = CASE WHEN cur.failures = 0 THEN NULL ELSE u.auth_window_start END, locked_until = NULL
         FROM cur WHERE u.id = cur.id AND cur.locked_until IS NULL AND cur.failures + cur.in_flight < $3
         RETURNING u.id)
       SELECT cur.locked_until AS "lockedUntil", EXISTS (SELECT 1 FROM claimed) AS claimed FROM cur`,
      [userId, this.policy.failureWindowMs, this.policy.maxFailures],
    );
    const row = rows[0];
    if (!row) return { kind: 'locked', lockedUntil: null };
    if (row.claimed) return { kind: 'claimed' };
    return row.lockedUntil ? { kind: 'locked', lockedUntil: row.lockedUntil.toISOString() } : { kind: 'busy' };
  }

  /** Turns this try's place into a failure; the failure that reaches the cap sets the lock. */
  private async confirmFailure(userId: string): Promise<ProofOutcome> {
    const { rows } = await this.pool.query<{ failures: number; lockedUntil: Date | null }>(
      `WITH cur AS (SELECT id, ${EFFECTIVE_FAILURES} AS failures, ${EFFECTIVE_IN_FLIGHT} AS in_flight FROM users WHERE id = $1 FOR UPDATE)
       UPDATE users u SET
         auth_in_flight = greatest(cur.in_flight - 1, 0),
         auth_failures = cur.failures + 1,
         auth_window_start = CASE WHEN cur.failures = 0 THEN now() ELSE u.auth_window_start END,
         locked_until = CASE WHEN cur.failures + 1 >= $3 THEN now() + $4 * interval '1 millisecond' ELSE u.locked_until END
       FROM cur WHERE u.id = cur.id
       RETURNING u.auth_failures AS failures, u.locked_until AS "lockedUntil"`,
      [userId, this.policy.failureWindowMs, this.policy.maxFailures, this.policy.lockoutMs],
    );
    const row = rows[0];
    const lockedUntil = row?.failures !== undefined && row.failures >= this.policy.maxFailures ? (row.lockedUntil?.toISOString() ?? null) : null;
    return { kind: 'failed', attemptsLeft: Math.max(0, this.policy.maxFailures - (row?.failures ?? this.policy.maxFailures)), lockedUntil };
  }
}

function lockedError(lockedUntil: string | null): AppError {
  return new AppError(423, 'LOCKED', 'Too many failed re-authentications; try again later', { lockedUntil, attemptsLeft: 0 });
}
