import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { knownVariables, loadConfig } from '../src/config';

const ROOT = path.resolve(__dirname, '..');
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
const services: Record<string, any> = compose.services;
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const commandText = (cmd: unknown): string => (Array.isArray(cmd) ? cmd.join(' ') : String(cmd ?? ''));

/** What a user exports before `docker compose up` (the `${VAR:?…}` variables). */
const SECRETS: Record<string, string> = {
  TOKEN_SECRET: randomBytes(32).toString('base64'),
  PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  CODEC_AUTH_TOKEN: randomBytes(32).toString('hex'),
};
const resolve = (env: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => SECRETS[name]!)]));

describe('docker-compose.yml (checked statically: no Docker engine here)', () => {
  it('has every service the product needs', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal-schema', 'temporal', 'temporal-namespace', 'temporal-ui', 'mail', 'api', 'worker']),
    );
    expect(services.api.command).toEqual(['node', 'dist/api/server.js']);
    expect(services.worker.command).toEqual(['node', 'dist/worker.js']);
    expect(dockerfile).toMatch(/FROM node:\d+\.\d+\.\d+-bookworm/);
  });

  it('the Dockerfile runs `npm run build`, which writes the bundle; the compose worker runs dist, where the bundle is', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^COPY scripts\/build-workflow-bundle\.ts /m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(pkg.scripts.build).toContain('scripts/build-workflow-bundle.ts');
    expect(services.worker.command).toEqual(['node', 'dist/worker.js']); // loads dist/workflow-bundle.js next to it
    expect(services.worker.environment?.NODE_ENV ?? 'production').toBe('production'); // no fallback to bundling from source
  });

  it('does not use the deprecated auto-setup image', () => {
    for (const service of Object.values(services)) expect(String(service.image ?? '')).not.toMatch(/auto-setup/);
    expect(services.temporal.image).toMatch(/^temporalio\/server:/);
  });

  it('pins every image, and the Dockerfile base, to an exact version (no latest, no floating major or minor)', () => {
    const images = Object.values(services).map((s) => s.image).filter(Boolean) as string[];
    expect(images.length).toBeGreaterThanOrEqual(6);
    // PostgreSQL numbers its releases major.minor (16.9 is one exact release); everything else is semver.
    for (const image of images) expect(image, image).toMatch(image.startsWith('postgres:') ? /^postgres:\d+\.\d+$/ : /^[\w./-]+:v?\d+\.\d+\.\d+$/);
    for (const from of dockerfile.matchAll(/^FROM (\S+)/gm)) expect(from[1], from[1]).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$/);
    // The server the project builds elsewhere, its admin tools, and the UI the embedded dev server ships.
    expect(services.temporal.image).toBe('temporalio/server:1.30.4');
    expect(services['temporal-schema'].image).toBe('temporalio/admin-tools:1.30.4');
    expect(services['temporal-namespace'].image).toBe('temporalio/admin-tools:1.30.4');
    expect(services['temporal-ui'].image).toBe('temporalio/ui:2.54.1');
  });

  it('publishes no Temporal gRPC port (7233)', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) expect(String(typeof port === 'object' ? port.published ?? port.target : port), `${name}: ${JSON.stringify(port)}`).not.toMatch(/(^|:)7233(\/|$|:)/);
      expect(service.network_mode, name).not.toBe('host');
    }
  });

  it('sets up Temporal with admin-tools: schemas before the server starts, then the namespace with retention and search attributes', () => {
    const schema = commandText(services['temporal-schema'].command);
    for (const step of ['temporal-sql-tool', ' create', 'setup-schema -v 0.0', 'update-schema', 'temporal_visibility', 'postgres12']) expect(schema).toContain(step);
    expect(services.temporal.depends_on['temporal-schema']).toEqual({ condition: 'service_completed_successfully' });
    const namespace = commandText(services['temporal-namespace'].command);
    expect(namespace).toMatch(/temporal operator namespace create --namespace default --retention \d+d/);
    for (const attr of ['EmailChangeUserId', 'EmailChangeState']) expect(namespace).toContain(attr);
    expect(namespace).toContain('--type Keyword');
    expect(services['temporal-namespace'].depends_on.temporal).toEqual({ condition: 'service_healthy' });
    for (const name of ['api', 'worker']) {
      expect(services[name].depends_on['temporal-namespace']).toEqual({ condition: 'service_completed_successfully' });
      expect(services[name].depends_on.postgres).toEqual({ condition: 'service_healthy' });
    }
  });

  it('the one-off jobs are valid sh, stop at the first failure and hide none (no `|| true`)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-sh-'));
    try {
      for (const name of ['temporal-schema', 'temporal-namespace']) {
        expect(services[name].entrypoint).toEqual(['sh', '-euc']);
        const file = path.join(dir, `${name}.sh`);
        fs.writeFileSync(file, commandText(services[name].command).replace(/\$\$/g, '$'));
        execFileSync('sh', ['-n', file]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const [name, service] of Object.entries(services)) {
      for (const text of [commandText(service.command), commandText(service.entrypoint), commandText(service.healthcheck?.test)]) {
        expect(text, name).not.toMatch(/\|\|\s*(true|:|exit 0)\b/);
      }
    }
  });

  it('has healthchecks for PostgreSQL, Temporal, the API (/readyz) and the worker (its /readyz on WORKER_HEALTH_PORT)', () => {
    for (const name of ['postgres', 'temporal', 'api', 'worker']) expect(services[name].healthcheck?.test, name).toBeDefined();
    expect(commandText(services.api.healthcheck.test)).toContain('http://localhost:3000/readyz');
    expect(commandText(services.worker.healthcheck.test)).toContain(`http://localhost:${services.worker.environment.WORKER_HEALTH_PORT}/readyz`);
  });

  it('points the UI at the API codec server, which requires CODEC_AUTH_TOKEN', () => {
    const ui = services['temporal-ui'].environment;
    expect(ui.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(ui.TEMPORAL_CODEC_ENDPOINT).toMatch(/^http:\/\/localhost:3000\/codec\/\$\{CODEC_AUTH_TOKEN:\?[^}]+\}$/);
    expect(String(services.api.environment.CODEC_AUTH_TOKEN)).toMatch(/^\$\{CODEC_AUTH_TOKEN:\?[^}]+\}$/);
    expect(services.api.environment.CODEC_CORS_ORIGINS).toBe('http://localhost:8080');
    const api = loadConfig(resolve(services.api.environment));
    expect(api.codec.authToken).toBe(SECRETS.CODEC_AUTH_TOKEN);
    expect(api.codec.corsOrigins).toEqual(['http://localhost:8080']);
  });

  it.each(['api', 'worker'])('%s passes only variables the config schema knows, requires the secrets, and parses in production', (name) => {
    const env: Record<string, unknown> = services[name].environment;
    expect(Object.keys(env).filter((key) => !knownVariables.includes(key))).toEqual([]);
    // No default: compose refuses to start without them (${VAR:?message}).
    expect(String(env.TOKEN_SECRET)).toMatch(/^\$\{TOKEN_SECRET:\?[^}]+\}$/);
    expect(String(env.PAYLOAD_KEYS)).toMatch(/^\$\{PAYLOAD_KEYS:\?.+\}$/);
    const config = loadConfig(resolve(env));
    expect(config.nodeEnv).toBe('production');
    expect(config.databaseUrl).toMatch(/@postgres:5432\//);
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.smtpUrl).toBe('smtp://mail:1025');
    // Production still refuses the known placeholders, whatever compose passes.
    expect(() => loadConfig({ ...resolve(env), TOKEN_SECRET: 'change-me-change-me-change-me-change-me' })).toThrow(/TOKEN_SECRET/);
    expect(() => loadConfig({ ...resolve(env), PAYLOAD_KEYS: undefined })).toThrow(/PAYLOAD_KEYS/);
  });
});
