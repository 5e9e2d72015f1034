import { z } from 'zod';
import { parseDuration } from './duration';

/** A duration written like `90s`, `15m`, `24h`, parsed to milliseconds. */
const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration like 90s, 15m or 24h' });
    return z.NEVER;
  }
  return ms;
});

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const port = z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535);
const positiveInt = z.coerce.number({ error: 'expected a whole number' }).int().min(1);
const url = (protocols: string[]) =>
  z.url({ protocol: new RegExp(`^(${protocols.join('|')})$`), error: `expected a ${protocols.join(' or ')} URL` });

const DEV_TOKEN_SECRET = 'dev-only-token-secret-do-not-use-in-production';

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    PORT: port.default(3000),
    PUBLIC_BASE_URL: url(['http', 'https']).optional(),
    DATABASE_URL: url(['postgres', 'postgresql']).optional(),
    DATABASE_POOL_SIZE: positiveInt.max(200).default(10),
    TEMPORAL_ADDRESS: z
      .string()
      .regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/, 'expected host:port')
      .optional(),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TASK_QUEUE: z.string().min(1).default('email-change'),
    TEMPORAL_CLI_PATH: z.string().min(1).optional(),
    TEMPORAL_UI_PORT: port.default(8233),
    SMTP_URL: url(['smtp', 'smtps']).optional(),
    MAIL_FROM: z.string().min(3).default('Email change <no-reply@example.com>'),
    TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    SESSION_TTL: duration.prefault('12h'),
    EMAIL_LINK_TTL: duration.prefault('1h'),
    EMAIL_CHANGE_TTL: duration.prefault('24h'),
    RESEND_COOLDOWN: duration.prefault('60s'),
    MAX_RESENDS: z.coerce.number().int().min(0).max(100).default(5),
    AUTH_MAX_FAILURES: positiveInt.max(100).default(5),
    AUTH_FAILURE_WINDOW: duration.prefault('15m'),
    AUTH_LOCKOUT: duration.prefault('15m'),
    CONFIRM_OLD_EMAIL: bool.prefault('true'),
    DATA_DIR: z.string().min(1).default('.data'),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.TOKEN_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['TOKEN_SECRET'], message: 'is required when NODE_ENV=production' });
    }
  });

export type Env = z.input<typeof envSchema>;

export interface Config {
  nodeEnv: 'development' | 'test' | 'production';
  logLevel: string;
  port: number;
  publicBaseUrl: string;
  databaseUrl?: string;
  databasePoolSize: number;
  temporal: { address?: string; namespace: string; taskQueue: string; cliPath?: string; uiPort: number };
  smtpUrl?: string;
  mailFrom: string;
  tokenSecret: string;
  dataDir: string;
  /** Durations in milliseconds. */
  sessionTtlMs: number;
  policy: EmailChangePolicy;
  auth: { maxFailures: number; failureWindowMs: number; lockoutMs: number };
}

/** The per-request rules, pinned into each workflow when it starts. */
export interface EmailChangePolicy {
  linkTtlMs: number;
  changeTtlMs: number;
  resendCooldownMs: number;
  maxResends: number;
  confirmOldEmail: boolean;
}

export class ConfigError extends Error {}

/** Parses the environment once; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most shells' `FOO= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const value = present[name];
    const shown = value === undefined || name.includes('SECRET') || name.includes('URL') ? '' : ` (got "${value}")`;
    throw new ConfigError(`Invalid configuration: ${name}: ${issue.message}${shown}`);
  }
  const e = parsed.data;
  return {
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    port: e.PORT,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TASK_QUEUE,
      cliPath: e.TEMPORAL_CLI_PATH,
      uiPort: e.TEMPORAL_UI_PORT,
    },
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    tokenSecret: e.TOKEN_SECRET ?? DEV_TOKEN_SECRET,
    dataDir: e.DATA_DIR,
    sessionTtlMs: e.SESSION_TTL,
    policy: {
      linkTtlMs: e.EMAIL_LINK_TTL,
      changeTtlMs: e.EMAIL_CHANGE_TTL,
      resendCooldownMs: e.RESEND_COOLDOWN,
      maxResends: e.MAX_RESENDS,
      confirmOldEmail: e.CONFIRM_OLD_EMAIL,
    },
    auth: { maxFailures: e.AUTH_MAX_FAILURES, failureWindowMs: e.AUTH_FAILURE_WINDOW, lockoutMs: e.AUTH_LOCKOUT },
  };
}

/** The variable names the schema knows (the compose test checks against these). */
export const knownVariables: readonly string[] = Object.keys(envSchema.shape);
