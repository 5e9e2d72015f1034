import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import cors from '@koa/cors';
import type { z } from 'zod';
import { isDatabaseUnavailable } from '../db/pool';
import type { Logger } from '../log';
import { AppError, bearerChallenge, unauthenticated, unavailable } from './errors';
import type { Accounts, User } from '../accounts/accounts';
import type { IdempotentTry } from './idempotency';
import { looksLikeJwt } from '../auth/jwt';

export interface AppState {
  requestId: string;
  log: Logger;
  user?: User;
  /** The built-in session behind the bearer token (none for an identity provider's access token). */
  sessionId?: string;
  /** Set by the idempotency middleware for a request under an Idempotency-Key. */
  idempotency?: IdempotentTry;
}
export type AppContext = Koa.ParameterizedContext<AppState>;

/** Gives every request an id (echoed as X-Request-Id) and logs one JSON line when it ends. */
export function requestContext(log: Logger): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    const incoming = ctx.get('X-Request-Id');
    ctx.state.requestId = /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.log = log.child({ requestId: ctx.state.requestId });
    ctx.set('X-Request-Id', ctx.state.requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      ctx.state.log.info(
        { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) },
        'request',
      );
    }
  };
}

const CODE_FOR_HTTP_STATUS: Record<number, string> = {
  400: 'VALIDATION_FAILED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

/** True for "the Temporal server cannot be reached or did not answer in time" (gRPC UNAVAILABLE / DEADLINE_EXCEEDED, no connection, an Update not answered before our deadline). */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; name?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 14 || e.code === 4 || e.name === 'TransportError' || e.name === 'ConnectionError') return true;
    if (e.name === 'WorkflowUpdateRPCTimeoutOrCancelledError') return true;
    // The run cannot take messages until its failing workflow task succeeds (e.g. a payload key was removed): retry later.
    if (e.code === 9 && /workflow task in failed state/i.test(String((e as { message?: unknown }).message))) return true;
  }
  return false;
}

/** The one place that turns errors into R-ERR bodies: `{ error: { code, message, details? } }`. */
export function errorHandler(): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
    } catch (caught) {
      const err = toAppError(caught);
      if (err.status >= 500) ctx.state.log?.error({ err: caught }, 'request failed');
      ctx.status = err.status;
      for (const [name, value] of Object.entries(err.headers ?? {})) ctx.set(name, value);
      if (err.status === 401 && !ctx.response.get('WWW-Authenticate')) ctx.set('WWW-Authenticate', bearerChallenge());
      ctx.body = { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
    }
  };
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const http = err as { status?: number; expose?: boolean; type?: string; message?: string };
  if (typeof http.status === 'number' && http.status >= 400 && http.status < 500) {
    if (http.status === 413) return new AppError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large');
    // co-body marks an unparseable body with status 400 and keeps the raw text on `body`.
    if (http.status === 400 && 'body' in http) return new AppError(400, 'VALIDATION_FAILED', 'The request body could not be parsed');
    return new AppError(http.status, CODE_FOR_HTTP_STATUS[http.status] ?? 'BAD_REQUEST', http.expose ? (http.message ?? 'Bad request') : 'Bad request');
  }
  if (isDatabaseUnavailable(err)) return unavailable('The database');
  if (isTemporalUnavailable(err)) return unavailable('The workflow service');
  return new AppError(500, 'INTERNAL', 'Something went wrong on our side');
}

/**
 * Parses input with a zod schema; a failure is a 400 listing each bad field. Body fields are named
 * as they are (`auth.password`, `(body)` for the body as a whole); `where` prefixes path and query
 * parameters (`params.id`, `query.email`).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where?: 'params' | 'query'): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  // Two checks of one field can fail with the same words (a pattern and the refinement behind it): say it once.
  const seen = new Set<string>();
  const fields = result.error.issues
    .map((issue) => ({ path: where ? [where, ...issue.path].join('.') : issue.path.join('.') || '(body)', message: issue.message }))
    .filter((f) => {
      const key = `${f.path}\0${f.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  throw new AppError(400, 'VALIDATION_FAILED', `Invalid input: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`, { fields });
}

/** A session token: 32 random bytes in base64url, one part, no dots (an access token has two). */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{20,100}$/;
/** Longest bearer token read at all (a JWT with a few claims is well under 2 kB). */
const MAX_BEARER_LENGTH = 8192;

/**
 * Requires `Authorization: Bearer <token>` and puts the user on ctx.state: a built-in session
 * token, or (issue #14) an access token of the app's identity provider, told apart by its form.
 */
export function requireUser(accounts: Accounts): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    const match = /^Bearer (\S+)$/.exec(ctx.get('Authorization'));
    const token = match?.[1];
    if (!token || token.length > MAX_BEARER_LENGTH) throw unauthenticated();
    if (looksLikeJwt(token)) ctx.state.user = await accounts.userForAccessToken(token);
    else if (SESSION_TOKEN.test(token)) ({ user: ctx.state.user, sessionId: ctx.state.sessionId } = await accounts.userForSession(token));
    else throw unauthenticated();
    await next();
  };
}

/** AUTH_BUILTIN_ACCOUNTS=false (issue #14): sign-up and sign-in are no routes; the app's identity provider signs users in. */
export function builtinAccountsOff(): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    if (ctx.path === '/v1/users' || ctx.path === '/v1/sessions') {
      throw new AppError(404, 'NOT_FOUND', "Built-in accounts are turned off here; sign in with the app's identity provider");
    }
    await next();
  };
}

/** Body types each part of the app reads; a body of any other type is 415 rather than silently ignored. */
const BODY_TYPES: [prefix: string, types: string[]][] = [
  ['/v1/', ['application/json', '+json']],
  // The link pages' buttons post forms; an app may post the same token as JSON.
  ['/verify-email', ['application/x-www-form-urlencoded', 'application/json', '+json']],
  ['/undo-email-change', ['application/x-www-form-urlencoded', 'application/json', '+json']],
];

/** Refuses a request body whose Content-Type the route does not read (415 UNSUPPORTED_MEDIA_TYPE). */
export function requireBodyType(): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    const rule = BODY_TYPES.find(([prefix]) => ctx.path.startsWith(prefix));
    // An empty body (Content-Length: 0, as fetch sends on a bodiless POST) is no body of any type.
    const length = ctx.request.length;
    const hasBody = length === undefined ? Boolean(ctx.get('Transfer-Encoding')) : length > 0;
    if (rule && hasBody && !ctx.request.is(rule[1])) {
      throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', `Send the body as ${rule[1].filter((t) => !t.startsWith('+')).join(' or ')}`);
    }
    await next();
  };
}

/**
 * CORS for the /v1 API only (the link pages are same-origin forms; /codec has its own): browser apps
 * on the allowed origins may call it with a bearer token. No cookies, so no credentials mode.
 */
export function apiCors(allowedOrigins: string[]): Koa.Middleware<AppState> {
  const allowed = new Set(allowedOrigins);
  const handle = cors({
    origin: (ctx) => (allowed.has(ctx.get('Origin')) ? ctx.get('Origin') : ''),
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'Idempotent-Replayed', 'WWW-Authenticate'],
    maxAge: 600,
  });
  return async (ctx, next) => (ctx.path.startsWith('/v1/') ? handle(ctx, next) : next());
}

/** Security headers every answer carries; link pages and JSON alike never leak the URL onwards. */
export function securityHeaders(): Koa.Middleware<AppState> {
  return async (ctx, next) => {
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    // One-button pages must never be framed (clickjacking): the header for old browsers, CSP for the rest.
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Content-Security-Policy', "frame-ancestors 'none'");
    await next();
  };
}
