import { createHash } from 'node:crypto';
import type pg from 'pg';
import { inTransaction } from '../db/pool';
import type { Limits } from '../config';
import { rateLimited } from './rate-limits';

type Policy = Limits['signIn'];

/** One claimed sign-in try; report a success so it stops counting as a failure. */
export interface SignInClaim {
  succeeded(): Promise<void>;
}

const PRUNE_EVERY_MS = 5 * 60_000;

/**
 * Sign-in back-off (NIST SP 800-63B §5.2.2) per username string and per client: a few free
 * failures, then each further try waits base × 2^(failures − free), capped. Unknown usernames
 * count exactly like known ones, so the answer never depends on whether the account exists.
 * Each try is claimed (counted as a failure) before the password is checked, so parallel tries
 * cannot slip past the wait; a success deletes the username's history and refunds the client's.
 */
export class SignInThrottle {
  private lastPrune = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: Policy,
  ) {}

  /** Claims one try for `username` from `client`; throws 429 RATE_LIMITED with Retry-After while either must wait. */
  async claim(username: string, client: string): Promise<SignInClaim> {
    const userKey = `u:${sha256(username.toLowerCase())}`;
    const clientKey = `c:${sha256(client)}`;
    const free = new Map([
      [userKey, this.policy.freeFailuresPerUsername],
      [clientKey, this.policy.freeFailuresPerClient],
    ]);
    const keys = [...free.keys()].sort(); // one lock order for every transaction
    await this.pruneNow();
    await inTransaction(this.pool, async (db) => {
      // clock_timestamp(), not now(): a transaction that started earlier may get the row lock after a later one wrote it.
      await db.query('INSERT INTO sign_in_backoff (key, last_failure_at) SELECT unnest($1::text[]), clock_timestamp() ON CONFLICT DO NOTHING', [keys]);
      const { rows } = await db.query<{ key: string; failures: number; msSince: string }>(
        `SELECT key, CASE WHEN last_failure_at <= clock_timestamp() - $2 * interval '1 millisecond' THEN 0 ELSE failures END AS failures,
           extract(epoch FROM clock_timestamp() - last_failure_at) * 1000 AS "msSince"
         FROM sign_in_backoff WHERE key = ANY($1) ORDER BY key FOR UPDATE`,
        [keys, this.policy.forgetAfterMs],
      );
      const waitMs = Math.max(0, ...rows.map((r) => this.waitMs(r.failures, free.get(r.key)!, Number(r.msSince))));
      if (waitMs > 0) throw rateLimited('Too many sign-in attempts; wait before trying again', waitMs);
      await db.query(
        `UPDATE sign_in_backoff SET last_failure_at = clock_timestamp(),
           failures = CASE WHEN last_failure_at <= clock_timestamp() - $2 * interval '1 millisecond' THEN 1 ELSE failures + 1 END
         WHERE key = ANY($1)`,
        [keys, this.policy.forgetAfterMs],
      );
    });
    return {
      succeeded: async () => {
        // The username starts afresh; the client only gets this try back (its other failures stand).
        await this.pool.query('DELETE FROM sign_in_backoff WHERE key = $1', [userKey]);
        await this.pool.query('UPDATE sign_in_backoff SET failures = greatest(failures - 1, 0) WHERE key = $1', [clientKey]);
      },
    };
  }

  /** How much longer the next try must wait, `msSince` after the last of `failures` failures, `free` of them free. */
  private waitMs(failures: number, free: number, msSince: number): number {
    if (failures < free) return 0;
    return Math.min(this.policy.backoffMaxMs, this.policy.backoffBaseMs * 2 ** Math.min(failures - free, 40)) - msSince;
  }

  /** Forgotten histories are deleted now and then, by whichever process gets there. */
  private async pruneNow(): Promise<void> {
    if (Date.now() - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = Date.now();
    await this.pool.query("DELETE FROM sign_in_backoff WHERE last_failure_at <= clock_timestamp() - $1 * interval '1 millisecond'", [this.policy.forgetAfterMs]);
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
