import { randomBytes } from 'node:crypto';

const PROD_KEYS = `k1:${randomBytes(32).toString('base64')}`;
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';
import { parseDuration } from '../src/duration';

const ROOT = path.resolve(__dirname, '..');

describe('configuration (SPEC §4)', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.publicBaseUrl).toBe('http://localhost:3000');
    expect(config.temporal).toMatchObject({ namespace: 'default', taskQueue: 'email-change' });
    expect(config.policy).toEqual({
      linkTtlMs: 3_600_000,
      changeTtlMs: 86_400_000,
      resendCooldownMs: 60_000,
      maxResends: 5,
      confirmOldEmail: true,
      revertWindowMs: 7 * 86_400_000,
      revertLockMs: 72 * 3_600_000,
      revokeSessionsOnChange: true,
      reminderBeforeExpiryMs: 2 * 3_600_000,
      expiryNotice: true,
    });
    expect(config.auth).toMatchObject({ maxFailures: 5, lockoutMs: 900_000 });
  });

  it('parses durations and booleans', () => {
    const config = loadConfig({ EMAIL_LINK_TTL: '90s', EMAIL_CHANGE_TTL: '2d', AUTH_LOCKOUT: '250ms', CONFIRM_OLD_EMAIL: 'false' });
    expect(config.policy.linkTtlMs).toBe(90_000);
    expect(config.policy.changeTtlMs).toBe(172_800_000);
    expect(config.auth.lockoutMs).toBe(250);
    expect(config.policy.confirmOldEmail).toBe(false);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('15 minutes')).toBeUndefined();
    // Issue #15: 0 turns the undo window and the reminder off; anything else must be a duration.
    expect(loadConfig({ REVERT_WINDOW: '0', REMINDER_BEFORE_EXPIRY: '0' }).policy).toMatchObject({ revertWindowMs: 0, reminderBeforeExpiryMs: 0 });
    expect(() => loadConfig({ REVERT_WINDOW: 'a week' })).toThrow(/^Invalid configuration: REVERT_WINDOW: expected 0 \(off\) or a duration/);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(3000);
  });

  it.each([
    ['PORT', 'eighty', /PORT: expected a port number/],
    ['PORT', '70000', /PORT: expected a port number of at most 65535/],
    ['DATABASE_POOL_SIZE', '0', /DATABASE_POOL_SIZE: expected a whole number of at least 1/],
    ['DATABASE_POOL_SIZE', '500', /DATABASE_POOL_SIZE: expected a whole number of at most 200/],
    ['SSE_HEARTBEAT_MS', '1.5', /SSE_HEARTBEAT_MS: expected a whole number/],
    ['EMAIL_LINK_TTL', '1 hour', /EMAIL_LINK_TTL: expected a duration like 90s, 15m or 24h \(got "1 hour"\)/],
    ['DATABASE_URL', 'mysql://localhost/db', /DATABASE_URL: expected a postgres or postgresql URL/],
    ['TEMPORAL_ADDRESS', 'localhost', /TEMPORAL_ADDRESS: expected host:port/],
    ['SMTP_URL', 'http://mail', /SMTP_URL: expected a smtp or smtps URL/],
    ['CONFIRM_OLD_EMAIL', 'maybe', /CONFIRM_OLD_EMAIL:/],
    ['MAX_RESENDS', '-1', /MAX_RESENDS:/],
    ['TOKEN_SECRET', 'short', /TOKEN_SECRET: must be at least 32 characters/],
    ['NODE_ENV', 'staging', /NODE_ENV:/],
  ])('rejects %s=%s with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('never echoes a secret or a URL with credentials', () => {
    expect(() => loadConfig({ TOKEN_SECRET: 'tiny-secret' })).toThrow(/^((?!tiny-secret).)*$/);
  });

  it('requires TOKEN_SECRET in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: PROD_KEYS })).toThrow(/TOKEN_SECRET: is required when NODE_ENV=production/);
    const strong = randomBytes(32).toString('base64');
    expect(loadConfig({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: PROD_KEYS, TOKEN_SECRET: strong }).tokenSecret).toBe(strong);
  });

  // Issue #9: with a known secret every link could be computed; production refuses published and guessable ones.
  it.each([
    ['32 × x', 'x'.repeat(32)],
    ["docker-compose's old default", 'change-me-change-me-change-me-change-me'],
    ['the development default', 'dev-only-token-secret-do-not-use-in-production'],
    ['a repeated pattern', '0123456789abcdef'.repeat(4)],
    ['a repeated word', 'Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3xx'],
    ['three letters', 'abcabcabcabcabcabcabcabcabcabcabc'],
    ['a placeholder', 'please-replace-me-with-a-real-value-0001'],
  ])('refuses %s as TOKEN_SECRET in production, without echoing it', (_name, secret) => {
    const load = () => loadConfig({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: PROD_KEYS, TOKEN_SECRET: secret });
    expect(load).toThrow(/^Invalid configuration: TOKEN_SECRET: /);
    expect(load).toThrow(/^((?!Tr0ub4dor|change-me-change|xxxxxxxx|0123456789abcdef|abcabc|please-replace).)*$/);
  });

  it('accepts every random secret of the documented kinds in production (no false refusals)', () => {
    for (let i = 0; i < 2_000; i++) {
      for (const secret of [randomBytes(32).toString('base64'), randomBytes(16).toString('hex'), randomBytes(24).toString('base64url')]) {
        expect(loadConfig({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: PROD_KEYS, TOKEN_SECRET: secret }).tokenSecret).toBe(secret);
      }
    }
  });

  it('requires PUBLIC_BASE_URL in production (links must not silently point at localhost)', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', TOKEN_SECRET: randomBytes(32).toString('base64'), PAYLOAD_KEYS: PROD_KEYS })).toThrow(
      /^Invalid configuration: PUBLIC_BASE_URL: is required when NODE_ENV=production/,
    );
  });

  it('requires PAYLOAD_KEYS in production and refuses the published development key, never echoing keys', () => {
    const base = { NODE_ENV: 'production', TOKEN_SECRET: randomBytes(32).toString('base64'), PUBLIC_BASE_URL: 'https://wallet.example' };
    expect(() => loadConfig(base)).toThrow(/^Invalid configuration: PAYLOAD_KEYS: is required when NODE_ENV=production/);
    const dev = 'dev:ZGV2LW9ubHktcGF5bG9hZC1rZXktbm90LXNlY3JldCE=';
    expect(() => loadConfig({ ...base, PAYLOAD_KEYS: `${PROD_KEYS},${dev}` })).toThrow(/^Invalid configuration: PAYLOAD_KEYS: contains the published development key/);
    expect(() => loadConfig({ ...base, PAYLOAD_KEYS: 'k1:c2hvcnQ=' })).toThrow(/^Invalid configuration: PAYLOAD_KEYS: key "k1" must be 32 bytes[^"]*$/);
    expect(loadConfig({ ...base, PAYLOAD_KEYS: PROD_KEYS }).payloadKeys.map((k) => k.id)).toEqual(['k1']);
  });

  it.each(['src/api/server.ts', 'src/worker.ts', 'src/main.ts'])('%s stops at start-up with one line and a non-zero exit', (entry) => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', entry], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, EMAIL_CHANGE_TTL: 'forever' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim()).toBe('Invalid configuration: EMAIL_CHANGE_TTL: expected a duration like 90s, 15m or 24h (got "forever")');
  });

  it('refuses the embedded services in production', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', TOKEN_SECRET: randomBytes(32).toString('base64'), PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: PROD_KEYS },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/NODE_ENV=production refuses the embedded development services; set TEMPORAL_ADDRESS, DATABASE_URL, SMTP_URL/);
  });
});

describe('abuse limits (issue 9)', () => {
  it('have the documented defaults', () => {
    expect(loadConfig({}).limits).toEqual({
      trustProxy: false,
      reauthBusyWaitMs: 5_000,
      signIn: { freeFailuresPerUsername: 5, freeFailuresPerClient: 20, backoffBaseMs: 1_000, backoffMaxMs: 900_000, forgetAfterMs: 86_400_000 },
      signUpPerClient: { points: 20, durationMs: 3_600_000 },
      availabilityPerUser: { points: 30, durationMs: 60_000 },
      availabilityPerClient: { points: 300, durationMs: 3_600_000 },
      startPerUser: { points: 10, durationMs: 3_600_000 },
      startPerAddress: { points: 5, durationMs: 3_600_000 },
    });
  });

  it('parse limits written as N/duration and TRUST_PROXY', () => {
    const config = loadConfig({ LIMIT_START_PER_ADDRESS: '3/10m', TRUST_PROXY: 'true', SIGNIN_BACKOFF_MAX: '1h' });
    expect(config.limits.startPerAddress).toEqual({ points: 3, durationMs: 600_000 });
    expect(config.limits.trustProxy).toBe(true);
    expect(config.limits.signIn.backoffMaxMs).toBe(3_600_000);
  });

  it.each([
    ['LIMIT_SIGNUP_PER_CLIENT', '20'],
    ['LIMIT_SIGNUP_PER_CLIENT', '0/1h'],
    ['LIMIT_AVAILABILITY_PER_USER', '30/500ms'],
    ['LIMIT_START_PER_USER', 'ten/1h'],
    ['LIMIT_START_PER_USER', '2000000000/1h'],
  ])('rejects %s=%s with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name}: expected a limit like 20/1h`));
  });

  it.each([['TRUST_PROXY', 'yes'], ['SIGNIN_FREE_FAILURES_PER_CLIENT', '-1'], ['SIGNIN_BACKOFF_BASE', '1 second']])('rejects %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name}:`));
  });
});

describe('rotatable link keys and retention (issue #10)', () => {
  const prod = { NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: PROD_KEYS };
  const strong = () => randomBytes(32).toString('base64');

  it('TOKEN_SECRET is the single key "default"; TOKEN_SECRETS lists keys newest first', () => {
    const one = strong();
    expect(loadConfig({ TOKEN_SECRET: one })).toMatchObject({ tokenKeys: [{ id: 'default', secret: one }], tokenSecret: one });
    const [a, b] = [strong(), strong()];
    expect(loadConfig({ ...prod, TOKEN_SECRETS: `k2:${a}, k1:${b}` })).toMatchObject({ tokenKeys: [{ id: 'k2', secret: a }, { id: 'k1', secret: b }], tokenSecret: a });
    expect(loadConfig({}).tokenKeys.map((k) => k.id)).toEqual(['default']);
  });

  it.each([
    ['a bad id', () => `not an id:${strong()}`, /TOKEN_SECRETS: expected id:secret/],
    ['an id over 8 characters', () => `key-2025-01:${strong()}`, /TOKEN_SECRETS: expected id:secret/],
    ['a short secret', () => 'k1:tiny-secret', /TOKEN_SECRETS: the secret of key "k1" must be at least 32 characters$/],
    ['a duplicate id', () => `k1:${strong()},k1:${strong()}`, /TOKEN_SECRETS: key id "k1" appears twice$/],
    ['nothing', () => ',', /TOKEN_SECRETS: expected at least one id:secret$/],
  ])('refuses TOKEN_SECRETS with %s, never echoing a secret', (_name, value, message) => {
    expect(() => loadConfig({ TOKEN_SECRETS: value() })).toThrow(message);
    expect(() => loadConfig({ TOKEN_SECRETS: 'k1:tiny-secret' })).toThrow(/^((?!tiny-secret).)*$/);
  });

  it('refuses TOKEN_SECRET and TOKEN_SECRETS together', () => {
    expect(() => loadConfig({ TOKEN_SECRET: strong(), TOKEN_SECRETS: `k1:${strong()}` })).toThrow(/^Invalid configuration: TOKEN_SECRETS: set TOKEN_SECRETS or TOKEN_SECRET, not both/);
  });

  it('holds every key of TOKEN_SECRETS to the production strength rules, naming the key, never the secret', () => {
    expect(loadConfig({ ...prod, TOKEN_SECRETS: `k2:${strong()}` }).tokenKeys).toHaveLength(1);
    for (const weak of ['x'.repeat(32), 'dev-only-token-secret-do-not-use-in-production', '0123456789abcdef'.repeat(4)]) {
      const load = () => loadConfig({ ...prod, TOKEN_SECRETS: `k2:${strong()},old:${weak}` });
      expect(load).toThrow(/^Invalid configuration: TOKEN_SECRETS: key "old" /);
      expect(load).toThrow(/^((?!xxxxxxxx|dev-only|0123456789abcdef).)*$/);
    }
    expect(() => loadConfig(prod)).toThrow(/TOKEN_SECRET: is required when NODE_ENV=production \(or TOKEN_SECRETS\)/);
  });

  it('TEMPORAL_RETENTION defaults to 7 days', () => {
    expect(loadConfig({}).temporal.retentionMs).toBe(7 * 86_400_000);
    expect(loadConfig({ TEMPORAL_RETENTION: '30d' }).temporal.retentionMs).toBe(30 * 86_400_000);
    expect(() => loadConfig({ TEMPORAL_RETENTION: 'a week' })).toThrow(/^Invalid configuration: TEMPORAL_RETENTION:/);
  });
});

describe('the codec server (issue #10)', () => {
  const prod = { NODE_ENV: 'production', TOKEN_SECRET: randomBytes(32).toString('base64'), PUBLIC_BASE_URL: 'https://wallet.example', PAYLOAD_KEYS: PROD_KEYS };

  it('is off without CODEC_AUTH_TOKEN; the embedded UI may call it by default, nobody else', () => {
    expect(loadConfig({}).codec).toEqual({ authToken: undefined, corsOrigins: ['http://localhost:8233', 'http://127.0.0.1:8233'] });
    expect(loadConfig({ TEMPORAL_UI_PORT: '9000' }).codec.corsOrigins).toEqual(['http://localhost:9000', 'http://127.0.0.1:9000']);
    expect(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }).codec.corsOrigins).toEqual([]);
    expect(loadConfig({ CODEC_CORS_ORIGINS: 'https://ui.example, http://localhost:8080' }).codec.corsOrigins).toEqual(['https://ui.example', 'http://localhost:8080']);
  });

  it.each(['*', 'https://ui.example/', 'https://ui.example/temporal', 'ui.example'])('refuses CODEC_CORS_ORIGINS=%s (origins only)', (value) => {
    expect(() => loadConfig({ CODEC_CORS_ORIGINS: value })).toThrow(/^Invalid configuration: CODEC_CORS_ORIGINS: expected origins like/);
  });

  it('refuses a short CODEC_AUTH_TOKEN anywhere and a weak one in production, never echoing it', () => {
    expect(() => loadConfig({ CODEC_AUTH_TOKEN: 'tiny-codec-token' })).toThrow(/^Invalid configuration: CODEC_AUTH_TOKEN: must be at least 32 characters$/);
    const weak = () => loadConfig({ ...prod, CODEC_AUTH_TOKEN: 'codec-codec-codec-codec-codec-codec' });
    expect(weak).toThrow(/^Invalid configuration: CODEC_AUTH_TOKEN: /);
    expect(weak).toThrow(/^((?!codec-codec).)*$/);
    const strong = randomBytes(32).toString('base64url');
    expect(loadConfig({ ...prod, CODEC_AUTH_TOKEN: strong, CODEC_CORS_ORIGINS: 'https://ui.example' }).codec).toEqual({ authToken: strong, corsOrigins: ['https://ui.example'] });
  });

  it('requires CODEC_AUTH_TOKEN in production when CODEC_CORS_ORIGINS enables the codec server', () => {
    expect(() => loadConfig({ ...prod, CODEC_CORS_ORIGINS: 'https://ui.example' })).toThrow(/^Invalid configuration: CODEC_AUTH_TOKEN: is required when NODE_ENV=production and the codec server is enabled/);
    expect(loadConfig(prod).codec.authToken).toBeUndefined();
  });
});
