import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { apiClient } from '../helpers/http';

const ROOT = path.resolve(__dirname, '../..');

interface Started {
  child: ChildProcess;
  output: () => string;
}

/** Runs the embedded stack exactly as `npm start` does, with its data in `dataDir`. */
function startEmbedded(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URLs within 90 s:\n${output}`)), 90_000);
    child.stdout!.on('data', () => {
      if (output.includes('Email change service is running')) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    });
    child.once('exit', (code) => reject(new Error(`npm start exited early (${code}):\n${output}`)));
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });
}

/** Processes whose command line mentions `needle` (e.g. our data directory). */
function processesMentioning(needle: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(needle) && !line.includes('ps -eo'));
}

describe('npm start (the embedded default)', () => {
  const dataDir = fs.mkdtempSync(path.join(inject('tempDir'), 'npm-start-'));
  fs.chmodSync(dataDir, 0o755);
  const running: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of running) if (child.exitCode === null) await stop(child);
  });

  it('brings up Temporal with its UI, PostgreSQL and SMTP, keeps data across restarts, and leaves no process behind', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const env = { DATA_DIR: dataDir, PORT: String(port), TEMPORAL_UI_PORT: String(uiPort) };

    const first = await startEmbedded(env);
    running.push(first.child);
    expect(first.output()).toContain(`API            http://localhost:${port}`);
    expect(first.output()).toContain(`Outbox         http://localhost:${port}/dev/outbox`);
    expect(first.output()).toContain(`Temporal UI    http://localhost:${uiPort}`);

    const api = apiClient(`http://127.0.0.1:${port}`);
    expect((await api.get('/readyz')).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${uiPort}/`)).status).toBe(200);
    expect((await api.get('/dev/outbox')).text).toContain('<h1>Outbox</h1>');

    const credentials = { username: 'persistent_alice', password: 'correct horse battery' };
    expect((await api.post('/v1/users', { json: { ...credentials, email: 'alice@example.com' } })).status).toBe(201);
    const session = await api.post('/v1/sessions', { json: credentials });
    expect((await api.get('/v1/me', { token: session.body.token })).body.username).toBe('persistent_alice');

    expect(await stop(first.child)).toBe(0);
    expect(processesMentioning(dataDir)).toEqual([]);

    const second = await startEmbedded(env);
    running.push(second.child);
    const again = await api.post('/v1/sessions', { json: credentials });
    expect(again.status).toBe(201);
    expect((await api.get('/v1/me', { token: again.body.token })).body.email).toBe('alice@example.com');
    expect(await stop(second.child)).toBe(0);
    expect(processesMentioning(dataDir)).toEqual([]);
  }, 240_000);
});
