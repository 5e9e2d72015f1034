import { createHash } from 'node:crypto';
import type pg from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../api/errors';
import type { Limits, RateLimit } from '../config';

/** The fixed-window limits, by name; each is configured in Config.limits under the same name. */
export const LIMIT_NAMES = ['signUpPerClient', 'availabilityPerUser', 'availabilityPerClient', 'startPerUser', 'startPerAddress'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

const MESSAGES: Record<LimitName, string> = {
  signUpPerClient: 'Too many sign-ups from your network; try again later',
  availabilityPerUser: 'Too many availability checks; try again later',
  availabilityPerClient: 'Too many availability checks from your network; try again later',
  startPerUser: 'Too many email changes started; try again later',
  startPerAddress: 'Too many email changes to this address; try again later',
};

export const rateLimited = (message: string, msBeforeNext: number): AppError => {
  const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new AppError(429, 'RATE_LIMITED', message, { retryAfterSeconds }, { 'Retry-After': String(retryAfterSeconds) });
};

/**
 * Every fixed-window limit, held in PostgreSQL (table rate_limits, migration 004) so it holds
 * across API processes. Keys are stored as SHA-256, so no address or username sits in the table.
 */
export class RateLimits {
  private readonly limiters: Record<LimitName, RateLimiterPostgres>;

  constructor(pool: pg.Pool, limits: Limits) {
    const make = (name: LimitName, limit: RateLimit, index: number) =>
      new RateLimiterPostgres({
        storeClient: pool,
        storeType: 'pool',
        tableName: 'rate_limits',
        tableCreated: true,
        // One sweeper of expired rows is enough for the shared table.
        clearExpiredByTimeout: index === 0,
        keyPrefix: name,
        points: limit.points,
        duration: limit.durationMs / 1000,
      });
    this.limiters = Object.fromEntries(LIMIT_NAMES.map((name, i) => [name, make(name, limits[name], i)])) as Record<LimitName, RateLimiterPostgres>;
  }

  /** Counts one use of `name` for `key`; throws 429 RATE_LIMITED with Retry-After once the window's allowance is spent. */
  async consume(name: LimitName, key: string): Promise<void> {
    try {
      await this.limiters[name].consume(hashed(key));
    } catch (err) {
      if (err instanceof RateLimiterRes) throw rateLimited(MESSAGES[name], err.msBeforeNext);
      throw err;
    }
  }

  /** Like consume without counting: throws 429 when the next use would be refused, else returns the uses left. */
  async check(name: LimitName, key: string): Promise<number> {
    const limiter = this.limiters[name];
    const res = await limiter.get(hashed(key));
    if (!res) return limiter.points;
    if (res.remainingPoints <= 0) throw rateLimited(MESSAGES[name], res.msBeforeNext);
    return res.remainingPoints;
  }
}

const hashed = (key: string) => createHash('sha256').update(key).digest('hex');
