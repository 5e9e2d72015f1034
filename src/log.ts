import pino from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs; secrets are redacted wherever they appear by name. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base,
    redact: { paths: ['password', '*.password', 'token', '*.token', 'req.headers.authorization', 'signature', '*.signature'], censor: '[redacted]' },
  });
}
