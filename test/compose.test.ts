import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { knownVariables, loadConfig } from '../src/config';

const ROOT = path.resolve(__dirname, '..');
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });

describe('docker-compose.yml (checked statically: no Docker engine here)', () => {
  it('has every service the product needs', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'mail', 'api', 'worker']),
    );
    expect(compose.services.api.command).toEqual(['node', 'dist/api/server.js']);
    expect(compose.services.worker.command).toEqual(['node', 'dist/worker.js']);
    expect(fs.existsSync(path.join(ROOT, 'Dockerfile'))).toBe(true);
    expect(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/FROM node:\d+-bookworm/);
  });

  it.each(['api', 'worker'])('%s passes only variables the config schema knows, and they parse', (name) => {
    const env: Record<string, string> = compose.services[name].environment;
    const unknown = Object.keys(env).filter((key) => !knownVariables.includes(key));
    expect(unknown).toEqual([]);
    // TOKEN_SECRET has no default: compose refuses to start without one (${VAR:?message}); give it what a user would.
    expect(String(env.TOKEN_SECRET)).toMatch(/^\$\{TOKEN_SECRET:\?[^}]+\}$/);
    expect(String(env.PAYLOAD_KEYS)).toMatch(/^\$\{PAYLOAD_KEYS:\?.+\}$/);
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, k === 'TOKEN_SECRET' ? randomBytes(32).toString('base64') : k === 'PAYLOAD_KEYS' ? `k1:${randomBytes(32).toString('base64')}` : String(v)]),
    );
    const config = loadConfig(resolved);
    expect(config.nodeEnv).toBe('production');
    expect(config.databaseUrl).toMatch(/@postgres:5432\//);
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.smtpUrl).toBe('smtp://mail:1025');
  });

  it('starts the app only after its dependencies', () => {
    for (const name of ['api', 'worker']) {
      expect(Object.keys(compose.services[name].depends_on)).toEqual(expect.arrayContaining(['postgres', 'temporal-setup', 'mail']));
    }
    expect(compose.services['temporal-setup'].command.join(' ')).toContain('EmailChangeUserId');
  });
});
