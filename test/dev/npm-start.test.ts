import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { apiClient } from '../helpers/http';
import { processesMentioning, startEmbedded, stop } from './npm-start-process';

const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

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
    expect(first.output()).toContain(`Demo app       http://localhost:${port}/demo`);
    expect(first.output()).toContain(`Temporal UI    http://localhost:${uiPort}`);
    expect(first.output()).toMatch(/Temporal {7}127\.0\.0\.1:\d+ \(namespace default\)/);
    // Loopback only without HOST: the outbox (every live link, no login) is not on the network.
    const lan = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
    if (lan) expect(await accepts(lan.address, port)).toBe(false);

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
