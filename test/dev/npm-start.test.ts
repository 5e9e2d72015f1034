import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { freePort } from '../../src/dev/ports';
import { workflowIdFor } from '../../src/workflows/messages';
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

/** A payload as the remote codec protocol carries it (proto3 JSON: bytes as base64). */
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const dataOf = (p: { data: string }) => Buffer.from(p.data, 'base64').toString('utf8');

/** The codec endpoint the embedded UI was started with (`--ui-codec-endpoint`), as the UI serves it to the browser. */
async function uiCodecEndpoint(uiPort: number): Promise<string> {
  const settings = (await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
  return settings.Codec?.Endpoint ?? '';
}

/** The raw (encrypted) input payloads of the user's run, read from Temporal without any codec. */
async function rawRunInput(temporalAddress: string, userId: string): Promise<Payload[]> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const history = await new Client({ connection }).workflow.getHandle(workflowIdFor(userId)).fetchHistory();
    return history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  } finally {
    await connection.close();
  }
}

describe('npm start (the embedded default)', () => {
  const dataDir = fs.mkdtempSync(path.join(inject('tempDir'), 'npm-start-'));
  fs.chmodSync(dataDir, 0o755);
  const running: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of running) if (child.exitCode === null) await stop(child);
  });

  it('brings up Temporal with its UI (decoding through the API\'s codec server), PostgreSQL and SMTP, keeps data across restarts, and leaves no process behind', async () => {
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
    const me = (await api.get('/v1/me', { token: session.body.token })).body;
    expect(me.username).toBe('persistent_alice');

    // Issue #10: the embedded UI decodes payloads through the API's codec server. Its endpoint is a
    // capability URL made up for this run; the UI's origin (as the banner prints it, or 127.0.0.1)
    // may call it by default; the real run's encrypted input comes back decoded; no credential: 401.
    const endpoint = await uiCodecEndpoint(uiPort);
    expect(endpoint).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/codec/[A-Za-z0-9_-]{43}$`));
    const change = await api.post('/v1/email/change', { token: session.body.token, json: { email: 'alice.new@example.com', auth: { method: 'password', password: credentials.password } } });
    expect(change.status, change.text).toBe(202);
    const temporalAddress = /Temporal {7}(127\.0\.0\.1:\d+)/.exec(first.output())![1]!;
    const payloads = (await rawRunInput(temporalAddress, me.id)).map(toJson);
    expect(payloads.length).toBeGreaterThan(0);
    expect(payloads.map(dataOf).join('')).not.toContain('alice.new@example.com');
    const uiOrigins = [`http://localhost:${uiPort}`, `http://127.0.0.1:${uiPort}`];
    for (const origin of uiOrigins) {
      const preflight = await fetch(`${endpoint}/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
      });
      expect(preflight.status, origin).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
      const decoded = await fetch(`${endpoint}/decode`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json', 'x-namespace': 'default' },
        body: JSON.stringify({ payloads }),
      });
      expect(decoded.status, origin).toBe(200);
      expect(decoded.headers.get('access-control-allow-origin')).toBe(origin);
      const body = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(body.payloads).toHaveLength(payloads.length);
      expect(decoded.headers.get('x-codec-undecoded')).toBeNull();
      expect(body.payloads.map(dataOf).join('')).toContain('alice.new@example.com');
    }
    const codecBase = endpoint.replace(/\/codec\/[^/]+$/, '/codec');
    const anonymous = await fetch(`${codecBase}/decode`, {
      method: 'POST',
      headers: { origin: uiOrigins[0]!, 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify({ payloads }),
    });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('alice.new@example.com');
    const foreign = await fetch(`${endpoint}/decode`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify({ payloads }),
    });
    expect(foreign.status).toBe(403);

    expect(await stop(first.child)).toBe(0);
    expect(processesMentioning(dataDir)).toEqual([]);

    const second = await startEmbedded(env);
    running.push(second.child);
    const again = await api.post('/v1/sessions', { json: credentials });
    expect(again.status).toBe(201);
    expect((await api.get('/v1/me', { token: again.body.token })).body.email).toBe('alice@example.com');
    // A new codec capability each run: the last run's URL no longer decodes anything.
    const nextEndpoint = await uiCodecEndpoint(uiPort);
    expect(nextEndpoint).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/codec/[A-Za-z0-9_-]{43}$`));
    expect(nextEndpoint).not.toBe(endpoint);
    const stale = await fetch(`${endpoint}/decode`, {
      method: 'POST',
      headers: { origin: uiOrigins[0]!, 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify({ payloads }),
    });
    expect(stale.status).toBe(401);
    expect(await stop(second.child)).toBe(0);
    expect(processesMentioning(dataDir)).toEqual([]);
  }, 240_000);
});
