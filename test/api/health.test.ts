import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { listen, closeServer } from '../../src/api/server';
import { freePort } from '../../src/dev/ports';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient } from '../helpers/http';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

describe('R-OPS health', () => {
  it('/healthz and /readyz answer 200 when PostgreSQL and Temporal are up', async () => {
    const api = apiClient(stack.baseUrl);
    expect((await api.get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await api.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { postgres: { ok: true }, temporal: { ok: true } } });
  });

  it('/readyz answers 503 naming what is down, while /healthz stays 200', async () => {
    const log = createLogger('silent');
    const deadPort = await freePort();
    const pool = createPool(`postgresql://postgres:x@127.0.0.1:${deadPort}/none`, 1, log);
    const temporal = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${deadPort}` }) });
    const port = await freePort();
    const server = await listen({ config: stack.config, pool, temporal, log }, port, '127.0.0.1');
    try {
      const api = apiClient(`http://127.0.0.1:${port}`);
      expect((await api.get('/healthz')).status).toBe(200);
      const ready = await api.get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toBe('5');
      expect(ready.body.checks.postgres.ok).toBe(false);
      expect(ready.body.checks.temporal.ok).toBe(false);
      // A route that needs the database says UNAVAILABLE, not 500.
      const signIn = await api.post('/v1/sessions', { json: { username: 'someone', password: 'whatever pw' } });
      expect(signIn.status).toBe(503);
      expect(signIn.body.error.code).toBe('UNAVAILABLE');
      expect(signIn.headers.get('retry-after')).toBe('5');
    } finally {
      await closeServer(server);
      await pool.end();
      await temporal.connection.close().catch(() => undefined);
    }
  });

  it('createApp builds without listening (for in-process use)', () => {
    expect(typeof createApp({ config: stack.config, pool: stack.pool, temporal: stack.temporal, log: createLogger('silent') }).callback()).toBe('function');
  });
});
