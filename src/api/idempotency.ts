import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type pg from 'pg';
import { AppError } from './errors';
import type { AppState } from './middleware';

const KEY_TTL = '24 hours';
/** How long a claim stays live without renewal: a crashed owner's key is free again after this. */
export const IDEMPOTENCY_LEASE_MS = 10_000;
const RENEW_EVERY_MS = 3_000;
/** How long a duplicate waits for a live owner's answer before 409 (longer than a lease, so it sees a crashed owner's lapse). */
const WAIT_FOR_FIRST_MS = 15_000;

/** The fingerprint MAC key, derived from the server secret, so a copy of the table cannot be checked against guesses. */
export function fingerprintKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', 'idempotency-key fingerprint v1', 32));
}

/** What a request asks for, never its proof: HMAC of method, path and the body without `auth`. */
export function requestFingerprint(macKey: Buffer, method: string, path: string, body: unknown): string {
  const asked = body && typeof body === 'object' && !Array.isArray(body) ? { ...body, auth: undefined } : (body ?? null);
  return createHmac('sha256', macKey).update(`${method} ${path} ${JSON.stringify(asked)}`).digest('hex');
}

/**
 * What a handler learns of its Idempotency-Key: `earlierTry` when an earlier try may have had its
 * effect (it failed with 5xx, or its process died); `claim` names this use of the key, the same for
 * every try of it and new once the key is used afresh (after it expired, or was released by a 4xx).
 */
export interface IdempotentTry {
  key: string;
  claim: string;
  earlierTry: boolean;
}

interface KeyRef {
  userId: string;
  key: string;
  fingerprint: string;
}

/**
 * R-IDEM: with an `Idempotency-Key` header, the first 2xx answer (status and body) is stored in
 * PostgreSQL for 24h and replayed for the same key and the same request, without looking at its
 * credentials; another request under that key is 422. Answers that had no effect (4xx, 5xx) are
 * not kept: the key is released and the corrected retry is processed (and re-authenticated) afresh.
 * A concurrent duplicate waits for the owner's answer, so one key has one effect; the owner holds
 * a lease it renews while it works, and a retry takes over a claim whose owner died.
 */
export function idempotent(pool: pg.Pool, macKey: Buffer): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    const key = ctx.get('Idempotency-Key');
    if (!key) return next();
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new AppError(400, 'VALIDATION_FAILED', 'Idempotency-Key must be 1-255 visible ASCII characters');
    }
    const ref = { userId: ctx.state.user!.id, key, fingerprint: requestFingerprint(macKey, ctx.method, ctx.path, ctx.request.body) };
    const claim = await claimOrAnswer(pool, ref);
    if ('owner' in claim) {
      ctx.state.idempotency = { key, claim: claim.claimedAt, earlierTry: claim.earlierTry };
      return runAsOwner(pool, ref, claim.owner, ctx, next);
    }
    ctx.status = claim.status;
    ctx.body = claim.body;
    ctx.set('Idempotent-Replayed', 'true');
  };
}

/** Becomes the key's owner (a new or expired key, or a claim whose owner stopped renewing), or gets the stored answer. */
async function claimOrAnswer(pool: pg.Pool, ref: KeyRef): Promise<{ owner: string; claimedAt: string; earlierTry: boolean } | { status: number; body: unknown }> {
  const params = [ref.userId, ref.key, ref.fingerprint, randomUUID(), IDEMPOTENCY_LEASE_MS];
  const deadline = Date.now() + WAIT_FOR_FIRST_MS;
  for (;;) {
    const claimed = await pool.query<{ owner: string; claimedAt: Date }>(
      `INSERT INTO idempotency_keys AS k (user_id, key, fingerprint, owner, lease_until, expires_at)
       VALUES ($1, $2, $3, $4, clock_timestamp() + $5 * interval '1 millisecond', now() + interval '${KEY_TTL}')
       ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = $3, owner = $4, lease_until = EXCLUDED.lease_until,
         status_code = NULL, body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
       WHERE k.expires_at <= now()
       RETURNING owner, created_at AS "claimedAt"`,
      params,
    );
    if (claimed.rowCount) return { owner: claimed.rows[0]!.owner, claimedAt: claimed.rows[0]!.claimedAt.toISOString(), earlierTry: false };

    const { rows } = await pool.query<{ fingerprint: string; status: number | null; body: unknown }>(
      'SELECT fingerprint, status_code AS status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2',
      [ref.userId, ref.key],
    );
    const row = rows[0];
    if (!row) continue; // the owner released it (an answer without effect): claim it afresh
    if (row.fingerprint !== ref.fingerprint) {
      throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request');
    }
    if (row.status !== null) return { status: row.status, body: row.body };

    // The owner died or failed with 5xx (its lease lapsed or was given up): exactly one retry takes the claim over.
    const takenOver = await pool.query<{ owner: string; claimedAt: Date }>(
      `UPDATE idempotency_keys SET owner = $4, lease_until = clock_timestamp() + $5 * interval '1 millisecond'
       WHERE user_id = $1 AND key = $2 AND fingerprint = $3 AND status_code IS NULL AND lease_until < clock_timestamp()
       RETURNING owner, created_at AS "claimedAt"`,
      params,
    );
    if (takenOver.rowCount) return { owner: takenOver.rows[0]!.owner, claimedAt: takenOver.rows[0]!.claimedAt.toISOString(), earlierTry: true };
    if (Date.now() > deadline) {
      throw new AppError(409, 'IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed; retry shortly', undefined, { 'Retry-After': '2' });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs the request under the claim, renewing its lease; keeps a 2xx answer. A 4xx had no effect: the key
 * is released. A 5xx may have had one (a start whose answer was lost): the claim stays, its lease given up,
 * so the retry takes it over knowing there was an earlier try.
 */
async function runAsOwner(pool: pg.Pool, ref: KeyRef, owner: string, ctx: Koa.ParameterizedContext<AppState>, next: Koa.Next): Promise<void> {
  const mine = 'user_id = $1 AND key = $2 AND owner = $3';
  const renew = setInterval(() => {
    pool
      .query(`UPDATE idempotency_keys SET lease_until = clock_timestamp() + $4 * interval '1 millisecond' WHERE ${mine} AND status_code IS NULL`, [ref.userId, ref.key, owner, IDEMPOTENCY_LEASE_MS])
      .catch(() => undefined); // a missed renewal only shortens the lease
  }, RENEW_EVERY_MS);
  let stored = false;
  let status = 500;
  try {
    await next();
    status = ctx.status;
    if (ctx.status >= 200 && ctx.status < 300) {
      await pool.query(`UPDATE idempotency_keys SET status_code = $4, body = $5 WHERE ${mine}`, [ref.userId, ref.key, owner, ctx.status, JSON.stringify(ctx.body)]);
      stored = true;
    }
  } catch (err) {
    // The error handler upstream turns it into the answer: a 4xx AppError, else a 5xx.
    status = err instanceof AppError ? err.status : 500;
    throw err;
  } finally {
    clearInterval(renew);
    if (!stored && status >= 500) {
      await pool.query(`UPDATE idempotency_keys SET lease_until = clock_timestamp() - interval '1 millisecond' WHERE ${mine}`, [ref.userId, ref.key, owner]).catch(() => undefined);
    } else if (!stored) {
      await pool.query(`DELETE FROM idempotency_keys WHERE ${mine}`, [ref.userId, ref.key, owner]).catch(() => undefined);
    }
  }
}
