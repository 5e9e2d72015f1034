import { timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import Router from '@koa/router';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { unauthenticated } from '../api/errors';
import type { AppState } from '../api/middleware';

/** The flow's actions, by method and route template: their answers say how each ended. */
const ACTIONS: Record<string, string> = {
  'POST /v1/email/change': 'start',
  'POST /v1/email/change/resend': 'resend',
  'DELETE /v1/email/change': 'cancel',
  'POST /v1/email/verify': 'verify',
  'POST /verify-email': 'verify_page',
  'POST /verify-email/resend': 'resend_page',
};

/** The API's metrics, one registry per app. Labels are route templates, methods, statuses, states and error codes: never a path, an address or a token. */
export function createApiMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'email_change_api_' });
  const registers = [registry];
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests by method, route template and status', labelNames: ['method', 'route', 'status'] as const, registers });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers,
  });
  const actions = new Counter({
    name: 'email_change_actions_total',
    help: 'Email change actions by how the API answered: the change state (REQUESTED, APPROVED, CANCELLED, …) or the error code',
    labelNames: ['action', 'outcome'] as const,
    registers,
  });
  const reauthRefusals = new Counter({ name: 'email_change_reauth_refusals_total', help: 'Re-authentications refused: REAUTH_FAILED (wrong proof) or LOCKED (R-LOCK)', labelNames: ['code'] as const, registers });
  const rateLimited = new Counter({ name: 'email_change_rate_limited_total', help: '429 RATE_LIMITED answers by route template', labelNames: ['route'] as const, registers });

  /** Counts every answer; goes before the error handler, so it sees the status and code the client gets. */
  function middleware(): Koa.Middleware<AppState> {
    return async (ctx, next) => {
      const stopTimer = duration.startTimer();
      try {
        await next();
      } finally {
        const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
        const route = typeof matched === 'string' ? matched : ctx.path.startsWith('/codec/') ? '/codec' : '(unmatched)';
        const status = ctx.status;
        requests.inc({ method: ctx.method, route, status: String(status) });
        stopTimer({ method: ctx.method, route });
        const body = ctx.body as { error?: { code?: unknown }; state?: unknown; change?: { state?: unknown } | null } | undefined;
        const code = status >= 400 && typeof body?.error?.code === 'string' ? body.error.code : undefined;
        const action = ACTIONS[`${ctx.method} ${route}`];
        if (action) {
          const state = body?.change?.state ?? body?.state;
          actions.inc({ action, outcome: code ?? (typeof state === 'string' && /^[A-Z_]{1,20}$/.test(state) ? state : String(status)) });
        }
        if (code === 'REAUTH_FAILED' || code === 'LOCKED') reauthRefusals.inc({ code });
        if (status === 429) rateLimited.inc({ route });
      }
    };
  }

  /** GET /metrics; with a token configured, only with `Authorization: Bearer <token>` (Prometheus' `authorization` setting). */
  function routes(token?: string): Router<AppState> {
    const router = new Router<AppState>();
    router.get('/metrics', async (ctx) => {
      if (token && !sameSecret(ctx.get('Authorization'), `Bearer ${token}`)) throw unauthenticated('Send the metrics token: Authorization: Bearer <METRICS_AUTH_TOKEN>');
      ctx.type = registry.contentType;
      ctx.body = await registry.metrics();
    });
    return router;
  }

  return { registry, middleware, routes };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
