import { createHash } from 'node:crypto';
import type Koa from 'koa';
import type pg from 'pg';
import { AppError } from './errors';
import { toAppError, type AppState } from './middleware';

const KEY_TTL = '24 hours';
const WAIT_FOR_FIRST_MS = 15_000;

/**
 * R-IDEM: with an `Idempotency-Key` header, the first answer (status and body) is stored in
 * PostgreSQL for 24h and replayed for the same key and the same request; another request under
 * that key is 422. A concurrent duplicate waits for the first one's answer, so one key has one
 * effect. Answers of 5xx are not kept: the client may retry them.
 */
export function idempotent(pool: pg.Pool): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    const key = ctx.get('Idempotency-Key');
    if (!key) return next();
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new AppError(400, 'VALIDATION_FAILED', 'Idempotency-Key must be 1-255 visible ASCII characters');
    }
    const userId = ctx.state.user!.id;
    const fingerprint = createHash('sha256').update(`${ctx.method} ${ctx.path} ${JSON.stringify(ctx.request.body ?? null)}`).digest('hex');

    await pool.query('DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND expires_at <= now()', [userId, key]);
    const claimed = await pool.query(
      `INSERT INTO idempotency_keys (user_id, key, fingerprint, expires_at) VALUES ($1, $2, $3, now() + interval '${KEY_TTL}')
       ON CONFLICT DO NOTHING`,
      [userId, key, fingerprint],
    );
    if (!claimed.rowCount) return replay(ctx, pool, userId, key, fingerprint);

    const store = (status: number, body: unknown) =>
      pool.query('UPDATE idempotency_keys SET status_code = $3, body = $4 WHERE user_id = $1 AND key = $2', [userId, key, status, JSON.stringify(body)]);
    try {
      await next();
      await store(ctx.status, ctx.body);
    } catch (caught) {
      const err = toAppError(caught);
      if (err.status >= 500) await pool.query('DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2', [userId, key]).catch(() => undefined);
      else await store(err.status, { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
      throw caught;
    }
  };
}

async function replay(ctx: Koa.ParameterizedContext<AppState>, pool: pg.Pool, userId: string, key: string, fingerprint: string) {
  const deadline = Date.now() + WAIT_FOR_FIRST_MS;
  for (;;) {
    const { rows } = await pool.query<{ fingerprint: string; status: number | null; body: unknown }>(
      'SELECT fingerprint, status_code AS status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2',
      [userId, key],
    );
    const row = rows[0];
    if (row && row.fingerprint !== fingerprint) {
      throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request');
    }
    if (row?.status != null) {
      ctx.status = row.status;
      ctx.body = row.body;
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }
    if (!row || Date.now() > deadline) {
      // The first request failed with a 5xx (its key was released) or is still running.
      throw new AppError(409, 'IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed; retry shortly', undefined, { 'Retry-After': '2' });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
