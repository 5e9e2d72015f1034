import { z } from 'zod';
import { parseDuration } from './duration';
import { weakSecretReason } from './secret-strength';
import { DEFAULT_KEY_ID, parseTokenKeys, type TokenKey } from './tokens';
import { DEV_PAYLOAD_KEYS, parsePayloadKeys, type PayloadKey } from './codec/payload-keys';
import { temporalConnectionFromEnv, type TemporalConnectionOptions } from './temporal-connection';
import { brandingEnv, brandingFromEnv, type Branding } from './i18n/config';

/** A duration written like `90s`, `15m`, `24h`, parsed to milliseconds. */
const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration like 90s, 15m or 24h' });
    return z.NEVER;
  }
  return ms;
});

/** A fixed-window limit written like `20/1h` (20 per hour): `{ points, durationMs }`. */
const rate = z.string().transform((text, ctx) => {
  const [points, window] = text.split('/');
  const durationMs = window === undefined ? undefined : parseDuration(window);
  if (!/^\d{1,10}$/.test(points ?? '') || Number(points) < 1 || Number(points) > 1e9 || durationMs === undefined || durationMs < 1_000) {
    ctx.addIssue({ code: 'custom', message: 'expected a limit like 20/1h (1 to 1000000000 per at least 1s)' });
    return z.NEVER;
  }
  return { points: Number(points), durationMs };
});

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/** A duration, or `0` for "off". */
const durationOrOff = z.string().transform((text, ctx) => {
  const ms = text.trim() === '0' ? 0 : parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected 0 (off) or a duration like 90s, 15m, 2h or 7d' });
    return z.NEVER;
  }
  return ms;
});
/** A number variable's words: what it must be, and its bounds when it is out of them (a schema-wide string would hide them). */
const wholeNumber = (what: string) => (issue: { code?: string; minimum?: unknown; maximum?: unknown }) =>
  issue.code === 'too_small' ? `${what} of at least ${String(issue.minimum)}` : issue.code === 'too_big' ? `${what} of at most ${String(issue.maximum)}` : what;
const port = z.coerce.number({ error: wholeNumber('expected a port number') }).int().min(0).max(65535);
const positiveInt = z.coerce.number({ error: wholeNumber('expected a whole number') }).int().min(1);
const url = (protocols: string[]) =>
  z.url({ protocol: new RegExp(`^(${protocols.join('|')})$`), error: `expected a ${protocols.join(' or ')} URL` });

const DEV_TOKEN_SECRET = 'dev-only-token-secret-do-not-use-in-production';

/** The signature algorithms an access or ID token may use: asymmetric ones (RFC 7518, RFC 8037, RFC 9864). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    PORT: port.default(3000),
    // Where `npm start` listens: loopback unless set (its outbox page shows every live link, without a login).
    HOST: z.string().regex(/^[A-Za-z0-9.:-]+$/, 'expected an address like 127.0.0.1 or 0.0.0.0').optional(),
    PUBLIC_BASE_URL: url(['http', 'https']).optional(),
    DATABASE_URL: url(['postgres', 'postgresql']).optional(),
    DATABASE_POOL_SIZE: positiveInt.max(200).default(10),
    TEMPORAL_ADDRESS: z
      .string()
      .regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/, 'expected host:port')
      .optional(),
    // Unset: the envconfig profile's namespace (src/temporal-connection.ts), else `default`.
    TEMPORAL_NAMESPACE: z.string().min(1).optional(),
    TASK_QUEUE: z.string().min(1).default('email-change'),
    TEMPORAL_CLI_PATH: z.string().min(1).optional(),
    TEMPORAL_UI_PORT: port.default(8233),
    // How long the embedded dev server's namespace keeps closed histories (docs/privacy.md).
    TEMPORAL_RETENTION: duration.prefault('7d'),
    SMTP_URL: url(['smtp', 'smtps']).optional(),
    // Mail to a relay other than this machine must be encrypted (smtps:// or STARTTLS) unless this says otherwise.
    SMTP_ALLOW_INSECURE: bool.prefault('false'),
    // Issue #15: may mail go to addresses with a non-ASCII local part (jörg@…)? auto asks the relay's EHLO for SMTPUTF8.
    SMTP_UTF8: z.enum(['auto', 'on', 'off'], { error: 'expected auto, on or off' }).default('auto'),
    MAIL_FROM: z.string().min(3).default('Email change <no-reply@example.com>'),
    TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    // Rotatable link keys (issue #10): id:secret[,id:secret…], the first signs, all verify; replaces TOKEN_SECRET.
    TOKEN_SECRETS: z
      .string()
      .transform((text, ctx) => {
        const keys = parseTokenKeys(text);
        if (typeof keys === 'string') {
          ctx.addIssue({ code: 'custom', message: keys });
          return z.NEVER;
        }
        return keys;
      })
      .optional(),
    // Payload encryption in Temporal (src/codec): id:base64key[,id:base64key…], the first encrypts.
    PAYLOAD_KEYS: z
      .string()
      .transform((text, ctx) => {
        const keys = parsePayloadKeys(text);
        if (typeof keys === 'string') {
          ctx.addIssue({ code: 'custom', message: keys });
          return z.NEVER;
        }
        return keys;
      })
      .optional(),
    // The codec server (src/codec/routes.ts) for the Temporal UI: on when CODEC_AUTH_TOKEN is set
    // (`npm start` makes one up for its embedded UI); CODEC_CORS_ORIGINS lists the UI origins
    // allowed to call it, by default the embedded UI's when Temporal is embedded.
    CODEC_AUTH_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    CODEC_CORS_ORIGINS: z
      .string()
      .transform((text, ctx) => {
        const origins = text.split(',').map((o) => o.trim()).filter(Boolean);
        if (origins.some((o) => !URL.canParse(o) || new URL(o).origin !== o)) ctx.addIssue({ code: 'custom', message: `expected origins like https://temporal-ui.example.com (scheme, host, port; no path or "*")` });
        return origins;
      })
      .optional(),
    // Browser apps on these origins may call the /v1 API (issue #11): a comma list, none by default.
    CORS_ORIGINS: z
      .string()
      .transform((text, ctx) => {
        const origins = text.split(',').map((o) => o.trim()).filter(Boolean);
        if (origins.some((o) => !URL.canParse(o) || new URL(o).origin !== o)) ctx.addIssue({ code: 'custom', message: 'expected origins like https://app.example.com (scheme, host, port; no path or "*")' });
        return origins;
      })
      .optional(),
    SESSION_TTL: duration.prefault('12h'),
    EMAIL_LINK_TTL: duration.prefault('1h'),
    EMAIL_CHANGE_TTL: duration.prefault('24h'),
    RESEND_COOLDOWN: duration.prefault('60s'),
    MAX_RESENDS: z.coerce.number().int().min(0).max(100).default(5),
    AUTH_MAX_FAILURES: positiveInt.max(100).default(5),
    AUTH_FAILURE_WINDOW: duration.prefault('15m'),
    AUTH_LOCKOUT: duration.prefault('15m'),
    // Abuse limits (src/auth): sign-in back-off, fixed windows held in PostgreSQL, the client's address.
    AUTH_BUSY_WAIT: duration.prefault('5s'),
    SIGNIN_FREE_FAILURES_PER_USERNAME: z.coerce.number().int().min(0).max(1e9).default(5),
    SIGNIN_FREE_FAILURES_PER_CLIENT: z.coerce.number().int().min(0).max(1e9).default(20),
    SIGNIN_BACKOFF_BASE: duration.prefault('1s'),
    SIGNIN_BACKOFF_MAX: duration.prefault('15m'),
    SIGNIN_BACKOFF_FORGET: duration.prefault('24h'),
    LIMIT_SIGNUP_PER_CLIENT: rate.prefault('20/1h'),
    LIMIT_AVAILABILITY_PER_USER: rate.prefault('30/1m'),
    LIMIT_AVAILABILITY_PER_CLIENT: rate.prefault('300/1h'),
    LIMIT_START_PER_USER: rate.prefault('10/1h'),
    LIMIT_START_PER_ADDRESS: rate.prefault('5/1h'),
    TRUST_PROXY: bool.prefault('false'),
    CONFIRM_OLD_EMAIL: bool.prefault('true'),
    // Issue #15 items 4-6: the old address's undo window and the block after an undo, revoking other
    // sessions on a change, a reminder before a request expires (0 = off) and the mail when it lapses.
    REVERT_WINDOW: durationOrOff.prefault('7d'),
    REVERT_LOCK: duration.prefault('72h'),
    REVOKE_SESSIONS_ON_CHANGE: bool.prefault('true'),
    REMINDER_BEFORE_EXPIRY: durationOrOff.prefault('2h'),
    EXPIRY_NOTICE: bool.prefault('true'),
    DATA_DIR: z.string().min(1).default('.data'),
    // Operations (issue #13): Temporal's standard client variables (read by @temporalio/envconfig in
    // src/temporal-connection.ts: TLS, mTLS, API key, profiles) and the metrics and health endpoints.
    TEMPORAL_API_KEY: z.string().min(1).optional(),
    TEMPORAL_TLS: bool.optional(),
    TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().min(1).optional(),
    TEMPORAL_TLS_SERVER_CA_CERT_DATA: z.string().min(1).optional(),
    TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
    TEMPORAL_TLS_CLIENT_CERT_DATA: z.string().min(1).optional(),
    TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
    TEMPORAL_TLS_CLIENT_KEY_DATA: z.string().min(1).optional(),
    TEMPORAL_PROFILE: z.string().min(1).optional(),
    TEMPORAL_CONFIG_FILE: z.string().min(1).optional(),
    WORKER_HEALTH_PORT: port.optional(),
    WORKER_SDK_METRICS_ADDRESS: z.string().regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/, 'expected host:port').optional(),
    METRICS_AUTH_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    // Deploys (issue #13): the prebuilt workflow bundle the worker loads; default dist/workflow-bundle.js next to it.
    WORKFLOW_BUNDLE: z.string().min(1).optional(),
    // Issue #15: the app's name, return and help links, logo and template overrides on every page and mail (src/i18n/config.ts).
    ...brandingEnv,
    // Tracing (issue #13, src/observability/tracing.ts): OpenTelemetry's own variables; off unless an OTLP endpoint is set.
    OTEL_EXPORTER_OTLP_ENDPOINT: url(['http', 'https']).optional(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(['http', 'https']).optional(),
    OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/json'], { error: 'only http/json is supported (the OTLP/HTTP JSON exporter)' }).optional(),
    OTEL_SERVICE_NAME: z.string().min(1).max(256).optional(),
    OTEL_SDK_DISABLED: bool.optional(),
    // Issue #14: signed webhooks (src/webhooks), sent only to this URL, signed with every secret given
    // (Standard Webhooks `whsec_<base64>`, space or comma separated: the rotation overlap).
    WEBHOOK_URL: url(['http', 'https']).optional(),
    WEBHOOK_SECRET: z
      .string()
      .transform((text, ctx) => {
        const secrets = text.split(/[\s,]+/).filter(Boolean);
        const bad = secrets.some((s) => !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(s) || Buffer.from(s.slice(6), 'base64').length < 24 || Buffer.from(s.slice(6), 'base64').length > 64);
        if (secrets.length === 0 || secrets.length > 5 || bad) {
          ctx.addIssue({ code: 'custom', message: 'expected 1 to 5 secrets like whsec_<base64 of 24 to 64 random bytes>, space or comma separated' });
          return z.NEVER;
        }
        return secrets;
      })
      .optional(),
    WEBHOOK_INCLUDE_EMAIL: bool.prefault('false'),
    WEBHOOK_TIMEOUT: duration.prefault('10s'),
    // A receiver unreachable this long: its run completes anyway; the events wait in change_events for the user's next run.
    WEBHOOK_GIVE_UP: duration.prefault('24h'),
    // Issue #14: the live status stream (GET /v1/email/change/events).
    SSE_HEARTBEAT_MS: positiveInt.min(100).max(300_000).default(15_000),
    SSE_MAX_STREAMS_PER_USER: positiveInt.max(1000).default(5),
    SSE_MAX_STREAMS: positiveInt.max(1_000_000).default(10_000),
    // A stream ends after this (the client reconnects with Last-Event-ID and its token is checked again).
    SSE_MAX_AGE: duration.prefault('1h'),
    // How long change_events are kept (the stream's resume points, webhooks not yet delivered).
    EVENTS_RETENTION: duration.prefault('30d'),
    // Issue #14: the app's own access tokens (JWTs from its identity provider), all three or none (src/auth/jwt.ts).
    AUTH_JWKS_URL: url(['http', 'https']).optional(),
    AUTH_ISSUER: z.string().min(1).max(1024).optional(),
    AUTH_AUDIENCE: z.string().min(1).max(1024).optional(),
    // The `aud` of ID tokens given as a re-authentication proof: the app's client id; default AUTH_AUDIENCE.
    AUTH_ID_TOKEN_AUDIENCE: z.string().min(1).max(1024).optional(),
    // Asymmetric signatures only: a symmetric one would be checked with the published key.
    AUTH_JWT_ALGORITHMS: z
      .string()
      .transform((text, ctx) => {
        const algorithms = text.split(',').map((a) => a.trim()).filter(Boolean);
        const wrong = algorithms.filter((a) => !(JWT_ALGORITHMS as readonly string[]).includes(a));
        if (algorithms.length === 0 || wrong.length > 0) {
          ctx.addIssue({ code: 'custom', message: `expected a comma list of ${JWT_ALGORITHMS.join(', ')} (asymmetric algorithms only)` });
          return z.NEVER;
        }
        return algorithms;
      })
      .prefault('RS256,ES256,EdDSA'),
    AUTH_CLOCK_TOLERANCE: duration.prefault('30s'),
    AUTH_JWKS_COOLDOWN: duration.prefault('30s'),
    AUTH_JWKS_CACHE_MAX_AGE: duration.prefault('10m'),
    // How recent the identity provider's authentication in an ID-token proof must be.
    REAUTH_MAX_AGE: duration.prefault('5m'),
    // Built-in sign-up and sessions (POST /v1/users, POST /v1/sessions); `false` leaves the app's tokens only.
    AUTH_BUILTIN_ACCOUNTS: bool.prefault('true'),
  })
  .superRefine((env, ctx) => {
    if (env.WEBHOOK_URL && !env.WEBHOOK_SECRET) ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'is required with WEBHOOK_URL (every webhook is signed)' });
    if (env.WEBHOOK_TIMEOUT < 1_000 || env.WEBHOOK_TIMEOUT > 60_000) ctx.addIssue({ code: 'custom', path: ['WEBHOOK_TIMEOUT'], message: 'must be between 1s and 60s' });
    if (env.WEBHOOK_GIVE_UP < 60_000) ctx.addIssue({ code: 'custom', path: ['WEBHOOK_GIVE_UP'], message: 'must be at least 1m' });
    if (env.EVENTS_RETENTION <= env.WEBHOOK_GIVE_UP) ctx.addIssue({ code: 'custom', path: ['EVENTS_RETENTION'], message: 'must be longer than WEBHOOK_GIVE_UP (undelivered events would be deleted)' });
    const idp = [env.AUTH_JWKS_URL, env.AUTH_ISSUER, env.AUTH_AUDIENCE];
    if (idp.some(Boolean) && !idp.every(Boolean)) {
      const missing = (['AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE'] as const).find((name) => !env[name])!;
      ctx.addIssue({ code: 'custom', path: [missing], message: 'is required with the other AUTH_JWKS_URL / AUTH_ISSUER / AUTH_AUDIENCE (set all three, or none)' });
    }
    if (!env.AUTH_JWKS_URL && !env.AUTH_BUILTIN_ACCOUNTS) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_BUILTIN_ACCOUNTS'], message: 'may be false only with AUTH_JWKS_URL (nobody could sign in)' });
    }
    if (env.AUTH_CLOCK_TOLERANCE > 300_000) ctx.addIssue({ code: 'custom', path: ['AUTH_CLOCK_TOLERANCE'], message: 'must be at most 5m' });
    if (env.TOKEN_SECRET && env.TOKEN_SECRETS) {
      ctx.addIssue({ code: 'custom', path: ['TOKEN_SECRETS'], message: 'set TOKEN_SECRETS or TOKEN_SECRET, not both (TOKEN_SECRET is the single key "default")' });
    }
    if (env.NODE_ENV !== 'production') return;
    if (!env.TOKEN_SECRET && !env.TOKEN_SECRETS) {
      ctx.addIssue({ code: 'custom', path: ['TOKEN_SECRET'], message: 'is required when NODE_ENV=production (or TOKEN_SECRETS)' });
    } else if (env.TOKEN_SECRET) {
      // A published or guessable secret lets anyone compute every link (issue #9).
      const weak = weakSecretReason(env.TOKEN_SECRET, [DEV_TOKEN_SECRET]);
      if (weak) ctx.addIssue({ code: 'custom', path: ['TOKEN_SECRET'], message: weak });
    }
    for (const key of env.TOKEN_SECRETS ?? []) {
      const weak = weakSecretReason(key.secret, [DEV_TOKEN_SECRET]);
      if (weak) ctx.addIssue({ code: 'custom', path: ['TOKEN_SECRETS'], message: `key "${key.id}" ${weak}` });
    }
    if (!env.PAYLOAD_KEYS) {
      ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEYS'], message: 'is required when NODE_ENV=production (personal data in Temporal is encrypted with it)' });
    } else if (env.PAYLOAD_KEYS.some((k) => (parsePayloadKeys(DEV_PAYLOAD_KEYS) as PayloadKey[]).some((dev) => dev.key.equals(k.key)))) {
      ctx.addIssue({ code: 'custom', path: ['PAYLOAD_KEYS'], message: 'contains the published development key; generate keys with `openssl rand -base64 32`' });
    }
    if (env.CODEC_AUTH_TOKEN) {
      // Whoever holds it reads every payload in Temporal history (issue #10).
      const weak = weakSecretReason(env.CODEC_AUTH_TOKEN);
      if (weak) ctx.addIssue({ code: 'custom', path: ['CODEC_AUTH_TOKEN'], message: weak });
    } else if (env.CODEC_CORS_ORIGINS) {
      ctx.addIssue({ code: 'custom', path: ['CODEC_AUTH_TOKEN'], message: 'is required when NODE_ENV=production and the codec server is enabled (CODEC_CORS_ORIGINS is set)' });
    }
    if (env.METRICS_AUTH_TOKEN) {
      const weak = weakSecretReason(env.METRICS_AUTH_TOKEN);
      if (weak) ctx.addIssue({ code: 'custom', path: ['METRICS_AUTH_TOKEN'], message: weak });
    }
    if (!env.PUBLIC_BASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['PUBLIC_BASE_URL'], message: 'is required when NODE_ENV=production (every link in mail starts with it)' });
    }
    if (env.WEBHOOK_URL && new URL(env.WEBHOOK_URL).protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_URL'], message: 'must be an https URL when NODE_ENV=production' });
    }
    if (env.AUTH_JWKS_URL && new URL(env.AUTH_JWKS_URL).protocol !== 'https:') {
      // Whoever can change the keys in transit can sign in as anyone.
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWKS_URL'], message: 'must be an https URL when NODE_ENV=production' });
    }
  });


export type Env = z.input<typeof envSchema>;

export interface Config {
  nodeEnv: 'development' | 'test' | 'production';
  logLevel: string;
  port: number;
  /** `npm start`'s listen address (HOST); it binds 127.0.0.1 without it. */
  host?: string;
  publicBaseUrl: string;
  databaseUrl?: string;
  databasePoolSize: number;
  temporal: { address?: string; namespace: string; taskQueue: string; cliPath?: string; uiPort: number; retentionMs: number; connection: TemporalConnectionOptions };
  smtpUrl?: string;
  smtpAllowInsecure: boolean;
  /** Issue #15: whether the relay takes UTF-8 local parts (SMTPUTF8): `auto` asks its EHLO (src/mail/transport.ts). */
  smtpUtf8: 'auto' | 'on' | 'off';
  mailFrom: string;
  /** Link token keys, newest first: the first signs (and seals, and keys idempotency fingerprints), all verify. */
  tokenKeys: TokenKey[];
  /** The first key's secret. */
  tokenSecret: string;
  /** Payload codec keys; the first encrypts, all decrypt. */
  payloadKeys: PayloadKey[];
  /** The codec server: off without an authToken; corsOrigins may call it from a browser. */
  codec: { authToken?: string; corsOrigins: string[] };
  /** Origins whose browser apps may call the /v1 API (CORS); empty: none. */
  corsOrigins: string[];
  dataDir: string;
  /** The worker's prebuilt workflow bundle (WORKFLOW_BUNDLE); unset: the one `npm run build` puts next to the worker. */
  workflowBundle?: string;
  /** The worker's health and metrics server (off without a port); where the SDK's own exporter binds. Bearer token for the API's /metrics. */
  observability: {
    workerHealthPort?: number;
    sdkMetricsAddress?: string;
    metricsAuthToken?: string;
    /** OpenTelemetry tracing (src/observability/tracing.ts): absent when off. `tracesUrl` is where spans are POSTed (OTLP/HTTP JSON). */
    tracing?: { tracesUrl: string; serviceName?: string };
  };
  /** Durations in milliseconds. */
  sessionTtlMs: number;
  policy: EmailChangePolicy;
  /** Issue #14: signed webhooks; absent when WEBHOOK_URL is not set (no run then schedules anything for them). */
  webhooks?: WebhookConfig;
  /** Issue #14: the live status stream. */
  streams: { heartbeatMs: number; maxPerUser: number; maxPerProcess: number; maxAgeMs: number; retentionMs: number };
  auth: { maxFailures: number; failureWindowMs: number; lockoutMs: number };
  /** The app's identity provider (issue #14); absent: only built-in sessions. */
  identityProvider?: IdentityProviderConfig;
  /** Built-in sign-up and sign-in (and their sessions) are on. */
  builtinAccounts: boolean;
  limits: Limits;
  /** What names the app on pages and mail, where they lead back to, and TEMPLATES_DIR (issue #15). */
  branding: Branding;
}

/** Where the app's access and ID tokens come from and what they must say (src/auth/jwt.ts). */
export interface IdentityProviderConfig {
  jwksUrl: string;
  issuer: string;
  /** `aud` of access tokens. */
  audience: string;
  /** `aud` of ID tokens given as a re-authentication proof (the app's client id). */
  idTokenAudience: string;
  algorithms: string[];
  clockToleranceMs: number;
  jwksCooldownMs: number;
  jwksCacheMaxAgeMs: number;
  /** An ID-token proof's `auth_time` is at most this old. */
  reauthMaxAgeMs: number;
}

/** At most `points` in each window of `durationMs`. */
export interface RateLimit {
  points: number;
  durationMs: number;
}

/** Abuse limits (src/auth/rate-limits.ts, src/auth/sign-in-throttle.ts, src/accounts/lockout.ts). */
export interface Limits {
  /** Take the client's address from X-Forwarded-For (the entry the nearest proxy added). */
  trustProxy: boolean;
  /** How long a correct re-authentication waits for parallel tries to finish before 429. */
  reauthBusyWaitMs: number;
  signIn: { freeFailuresPerUsername: number; freeFailuresPerClient: number; backoffBaseMs: number; backoffMaxMs: number; forgetAfterMs: number };
  signUpPerClient: RateLimit;
  availabilityPerUser: RateLimit;
  availabilityPerClient: RateLimit;
  startPerUser: RateLimit;
  startPerAddress: RateLimit;
}

/** The per-request rules, pinned into each workflow when it starts. */
export interface EmailChangePolicy {
  linkTtlMs: number;
  changeTtlMs: number;
  resendCooldownMs: number;
  maxResends: number;
  confirmOldEmail: boolean;
  /** Issue #14: set only when webhooks are configured, so runs without them carry the same input as before. */
  webhooks?: { giveUpMs: number };
  /**
   * Issue #15 items 4-6, present in runs started since (older runs replay without them): the old
   * address's undo window (0 = none) and the block after an undo, revoking the other sessions on an
   * approved change, the reminder this long before the deadline (0 = none), the mail when it lapses.
   */
  revertWindowMs?: number;
  revertLockMs?: number;
  revokeSessionsOnChange?: boolean;
  reminderBeforeExpiryMs?: number;
  expiryNotice?: boolean;
}

export interface WebhookConfig {
  url: string;
  /** `whsec_…` secrets; each signs every message (rotation: receivers verify with any one). */
  secrets: string[];
  includeEmail: boolean;
  timeoutMs: number;
  giveUpMs: number;
}

export class ConfigError extends Error {}

/** OpenTelemetry's rule: the traces endpoint is used as given, the general one gets `/v1/traces` appended. */
function tracingFromEnv(e: z.output<typeof envSchema>): Config['observability']['tracing'] {
  const tracesUrl = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT && `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`);
  return tracesUrl && !e.OTEL_SDK_DISABLED ? { tracesUrl, serviceName: e.OTEL_SERVICE_NAME } : undefined;
}

/** Parses the environment once; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most shells' `FOO= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const value = present[name];
    const shown = value === undefined || name.includes('SECRET') || name.includes('TOKEN') || name.includes('KEYS') || name.includes('URL') ? '' : ` (got "${value}")`;
    throw new ConfigError(`Invalid configuration: ${name}: ${issue.message}${shown}`);
  }
  const e = parsed.data;
  const connection = temporalConnectionFromEnv(present as Record<string, string>);
  if (typeof connection === 'string') throw new ConfigError(`Invalid configuration: ${connection}`);
  const tokenKeys = e.TOKEN_SECRETS ?? [{ id: DEFAULT_KEY_ID, secret: e.TOKEN_SECRET ?? DEV_TOKEN_SECRET }];
  return {
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    temporal: {
      address: connection.address,
      namespace: connection.namespace,
      taskQueue: e.TASK_QUEUE,
      cliPath: e.TEMPORAL_CLI_PATH,
      uiPort: e.TEMPORAL_UI_PORT,
      retentionMs: e.TEMPORAL_RETENTION,
      connection: connection.options,
    },
    smtpUrl: e.SMTP_URL,
    smtpAllowInsecure: e.SMTP_ALLOW_INSECURE,
    smtpUtf8: e.SMTP_UTF8,
    mailFrom: e.MAIL_FROM,
    tokenKeys,
    tokenSecret: tokenKeys[0]!.secret,
    payloadKeys: e.PAYLOAD_KEYS ?? (parsePayloadKeys(DEV_PAYLOAD_KEYS) as PayloadKey[]),
    codec: {
      authToken: e.CODEC_AUTH_TOKEN,
      corsOrigins: e.CODEC_CORS_ORIGINS ?? (connection.address ? [] : [`http://localhost:${e.TEMPORAL_UI_PORT}`, `http://127.0.0.1:${e.TEMPORAL_UI_PORT}`]),
    },
    corsOrigins: e.CORS_ORIGINS ?? [],
    dataDir: e.DATA_DIR,
    workflowBundle: e.WORKFLOW_BUNDLE,
    observability: { workerHealthPort: e.WORKER_HEALTH_PORT, sdkMetricsAddress: e.WORKER_SDK_METRICS_ADDRESS, metricsAuthToken: e.METRICS_AUTH_TOKEN, tracing: tracingFromEnv(e) },
    sessionTtlMs: e.SESSION_TTL,
    policy: {
      linkTtlMs: e.EMAIL_LINK_TTL,
      changeTtlMs: e.EMAIL_CHANGE_TTL,
      resendCooldownMs: e.RESEND_COOLDOWN,
      maxResends: e.MAX_RESENDS,
      confirmOldEmail: e.CONFIRM_OLD_EMAIL,
      revertWindowMs: e.REVERT_WINDOW,
      revertLockMs: e.REVERT_LOCK,
      revokeSessionsOnChange: e.REVOKE_SESSIONS_ON_CHANGE,
      reminderBeforeExpiryMs: e.REMINDER_BEFORE_EXPIRY,
      expiryNotice: e.EXPIRY_NOTICE,
      ...(e.WEBHOOK_URL ? { webhooks: { giveUpMs: e.WEBHOOK_GIVE_UP } } : {}),
    },
    ...(e.WEBHOOK_URL
      ? { webhooks: { url: e.WEBHOOK_URL, secrets: e.WEBHOOK_SECRET!, includeEmail: e.WEBHOOK_INCLUDE_EMAIL, timeoutMs: e.WEBHOOK_TIMEOUT, giveUpMs: e.WEBHOOK_GIVE_UP } }
      : {}),
    streams: { heartbeatMs: e.SSE_HEARTBEAT_MS, maxPerUser: e.SSE_MAX_STREAMS_PER_USER, maxPerProcess: e.SSE_MAX_STREAMS, maxAgeMs: e.SSE_MAX_AGE, retentionMs: e.EVENTS_RETENTION },
    auth: { maxFailures: e.AUTH_MAX_FAILURES, failureWindowMs: e.AUTH_FAILURE_WINDOW, lockoutMs: e.AUTH_LOCKOUT },
    identityProvider:
      e.AUTH_JWKS_URL && e.AUTH_ISSUER && e.AUTH_AUDIENCE
        ? {
            jwksUrl: e.AUTH_JWKS_URL,
            issuer: e.AUTH_ISSUER,
            audience: e.AUTH_AUDIENCE,
            idTokenAudience: e.AUTH_ID_TOKEN_AUDIENCE ?? e.AUTH_AUDIENCE,
            algorithms: e.AUTH_JWT_ALGORITHMS,
            clockToleranceMs: e.AUTH_CLOCK_TOLERANCE,
            jwksCooldownMs: e.AUTH_JWKS_COOLDOWN,
            jwksCacheMaxAgeMs: e.AUTH_JWKS_CACHE_MAX_AGE,
            reauthMaxAgeMs: e.REAUTH_MAX_AGE,
          }
        : undefined,
    builtinAccounts: e.AUTH_BUILTIN_ACCOUNTS,
    limits: {
      trustProxy: e.TRUST_PROXY,
      reauthBusyWaitMs: e.AUTH_BUSY_WAIT,
      signIn: {
        freeFailuresPerUsername: e.SIGNIN_FREE_FAILURES_PER_USERNAME,
        freeFailuresPerClient: e.SIGNIN_FREE_FAILURES_PER_CLIENT,
        backoffBaseMs: e.SIGNIN_BACKOFF_BASE,
        backoffMaxMs: e.SIGNIN_BACKOFF_MAX,
        forgetAfterMs: e.SIGNIN_BACKOFF_FORGET,
      },
      signUpPerClient: e.LIMIT_SIGNUP_PER_CLIENT,
      availabilityPerUser: e.LIMIT_AVAILABILITY_PER_USER,
      availabilityPerClient: e.LIMIT_AVAILABILITY_PER_CLIENT,
      startPerUser: e.LIMIT_START_PER_USER,
      startPerAddress: e.LIMIT_START_PER_ADDRESS,
    },
    branding: brandingFromEnv(e),
  };
}

/** The variable names the schema knows (the compose test checks against these). */
export const knownVariables: readonly string[] = Object.keys(envSchema.shape);
