import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type pg from 'pg';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { SmtpCapture } from '../dev/smtp-capture';
import { Accounts } from '../accounts/accounts';
import { apiCors, builtinAccountsOff, errorHandler, requestContext, requireBodyType, securityHeaders, type AppState } from './middleware';
import { accountRoutes } from './routes/accounts';
import { healthRoutes } from './routes/health';
import { outboxRoutes } from './routes/outbox';
import { demoRoutes } from './routes/demo';
import { emailChangeRoutes } from './routes/email-change';
import { eventRoutes } from './routes/events';
import { liveStatusStreams } from '../events/wiring';
import { linkPageRoutes } from './routes/link-pages';
import { revertPageRoutes } from './routes/revert-pages';
import { ReauthGuard } from '../accounts/lockout';
import { RateLimits } from '../auth/rate-limits';
import { SignIn } from '../auth/sign-in';
import { SignInThrottle } from '../auth/sign-in-throttle';
import { EmailChangeService } from '../email-change/service';
import { SWEEP_INTERVAL_MS } from '../email-change/reconcile';
import { Devices } from '../accounts/devices';
import { ExternalIdentities } from '../accounts/external-identities';
import { Reauthentication } from '../accounts/reauth';
import { JwtVerifier } from '../auth/jwt';
import { deviceRoutes } from './routes/devices';
import { docsRoutes } from './routes/docs';
import { codecServer } from '../codec/routes';
import { createApiMetrics } from '../observability/api-metrics';
import { tracingFor } from '../observability/tracing';

export interface ApiDeps {
  config: Config;
  pool: pg.Pool;
  temporal: Client;
  log: Logger;
  /** Present only in the embedded development stack. */
  outbox?: SmtpCapture;
}

/** JSON bodies above this are refused with 413 before they are read into memory. */
export const BODY_LIMIT = '16kb';

/** The Koa app: request id → (trace span) → metrics → error mapping → body parsing → routes. */
export function createApp(deps: ApiDeps): Koa<AppState> {
  const app = new Koa<AppState>();
  // Behind a proxy, the client's address is the X-Forwarded-For entry the nearest proxy added.
  app.proxy = deps.config.limits.trustProxy;
  app.maxIpsCount = 1;
  // Issue #14: the app's identity provider's access tokens, beside (or, AUTH_BUILTIN_ACCOUNTS=false, instead of) sessions.
  const idp = deps.config.identityProvider;
  const accounts = new Accounts(
    deps.pool,
    deps.config.sessionTtlMs,
    idp && { verifier: new JwtVerifier(idp), identities: new ExternalIdentities(deps.pool) },
    deps.config.builtinAccounts,
  );
  const guard = new ReauthGuard(deps.pool, { ...deps.config.auth, busyWaitMs: deps.config.limits.reauthBusyWaitMs });
  const limits = new RateLimits(deps.pool, deps.config.limits);
  const signIn = new SignIn(accounts, guard, new SignInThrottle(deps.pool, deps.config.limits.signIn));
  const devices = new Devices(deps.pool);
  const reauth = new Reauthentication(deps.pool, accounts, devices, guard);
  const emailChange = new EmailChangeService(deps.config, deps.pool, deps.temporal, accounts, guard, reauth, limits);
  // Issue #13: rows whose run ended without recording it are closed even if nobody reads them. Started
  // once the server listens (an app that never serves starts nothing); a watch pass still retrying when
  // the Temporal connection closes would throw from the SDK's retry timer, so shutdown waits for it.
  let stopReconciling: (() => Promise<void>) | undefined;
  app.once('listening', () => (stopReconciling = emailChange.startReconciling(SWEEP_INTERVAL_MS, deps.log)));
  app.once('shutdown', (pending?: Promise<void>[]) => stopReconciling && pending?.push(stopReconciling()));

  const metrics = createApiMetrics();
  app.use(requestContext(deps.log));
  const tracing = tracingFor(deps.config, 'api'); // off: no middleware at all
  if (tracing) app.use(tracing.httpMiddleware());
  app.use(metrics.middleware());
  app.use(errorHandler());
  app.use(securityHeaders());
  if (deps.config.codec.authToken) app.use(codecServer(deps.config));
  app.use(apiCors(deps.config.corsOrigins));
  app.use(requireBodyType());
  app.use(bodyParser({ enableTypes: ['json', 'form'], jsonLimit: BODY_LIMIT, formLimit: BODY_LIMIT, jsonStrict: true }));

  const router = new Router<AppState>();
  if (!deps.config.builtinAccounts) router.use(builtinAccountsOff());
  router.use(
    accountRoutes(accounts, signIn, limits, (userId) => emailChange.pendingChange(userId)).routes(),
    emailChangeRoutes(accounts, emailChange, deps.pool, deps.config.tokenSecret, limits).routes(),
    eventRoutes(accounts, liveStatusStreams(app, deps, emailChange)).routes(),
    deviceRoutes(accounts, devices, reauth).routes(),
    linkPageRoutes(emailChange, deps.config, deps.pool).routes(),
    revertPageRoutes(deps.config, deps.pool, deps.temporal).routes(),
    healthRoutes(deps.pool, deps.temporal).routes(),
    docsRoutes(deps.config.publicBaseUrl).routes(),
    metrics.routes(deps.config.observability.metricsAuthToken).routes(),
  );
  if (deps.outbox) router.use(outboxRoutes(deps.outbox).routes());
  // Issue #14: the demo app page, embedded stack only (and never under NODE_ENV=production).
  if (deps.outbox && deps.config.nodeEnv !== 'production') router.use(demoRoutes().routes());
  app.use(router.routes()).use(router.allowedMethods({ throw: true }));
  return app;
}
