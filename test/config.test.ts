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
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(3000);
  });

  it.each([
    ['PORT', 'eighty', /PORT: expected a port number/],
    ['PORT', '70000', /PORT:/],
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
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/TOKEN_SECRET: is required when NODE_ENV=production/);
    expect(loadConfig({ NODE_ENV: 'production', TOKEN_SECRET: 'x'.repeat(32) }).tokenSecret).toBe('x'.repeat(32));
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
      env: { PATH: process.env.PATH, NODE_ENV: 'production', TOKEN_SECRET: 'p'.repeat(40) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/NODE_ENV=production refuses the embedded development services; set TEMPORAL_ADDRESS, DATABASE_URL, SMTP_URL/);
  });
});
