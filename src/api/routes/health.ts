import Router from '@koa/router';
import type pg from 'pg';
import type { Client } from '@temporalio/client';
import type { AppState } from '../middleware';
import { within } from '../../timeout';

const PROBE_TIMEOUT_MS = 2_000;

/** One dependency's check, answered within PROBE_TIMEOUT_MS whatever the probe does (a connect attempt ignores gRPC deadlines). */
async function check(probe: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  try {
    await within(PROBE_TIMEOUT_MS, probe(), () => new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`));
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}

/** R-OPS: liveness (process up) and readiness (PostgreSQL and Temporal reachable). */
export function healthRoutes(pool: pg.Pool, temporal: Client): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const deadline = () => Date.now() + PROBE_TIMEOUT_MS;
    const [postgres, temporalCheck] = await Promise.all([
      check(() => pool.query('SELECT 1')),
      check(() => temporal.connection.withDeadline(deadline(), () => temporal.workflowService.getSystemInfo({}))),
    ]);
    const ready = postgres.ok && temporalCheck.ok;
    ctx.status = ready ? 200 : 503;
    if (!ready) ctx.set('Retry-After', '5');
    ctx.body = { status: ready ? 'ready' : 'not ready', checks: { postgres, temporal: temporalCheck } };
  });
  return router;
}
