import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import type pg from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { createWorker } from '../../src/worker';
import { listen, closeServer } from '../../src/api/server';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { freePort } from '../../src/dev/ports';

export interface TestStack {
  baseUrl: string;
  config: Config;
  pool: pg.Pool;
  smtp: SmtpCapture;
  temporal: Client;
  /** Absent with `{ worker: false }`, when the test runs its own worker process. */
  worker?: Worker;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

/**
 * A worker, an API and an SMTP capture server of this test file's own, on a task queue of its
 * own, against the run's shared real Temporal server and PostgreSQL. `env` overrides config.
 */
export async function startStack(env: Record<string, string> = {}, opts: { worker?: boolean } = {}): Promise<TestStack> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  const smtp = await startSmtpCapture();
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: inject('databaseUrl'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TASK_QUEUE: `test-${randomUUID()}`,
    SMTP_URL: smtp.url,
    TOKEN_SECRET: 'test-secret-test-secret-test-secret-0123456789',
    ...env,
  });
  const log = createLogger(config.logLevel);
  const pool = createPool(config.databaseUrl!, config.databasePoolSize, log);
  const workerConnection = opts.worker === false ? undefined : await NativeConnection.connect({ address: config.temporal.address! });
  const worker = workerConnection
    ? await createWorker(
        workerConnection,
        { config, pool, mail: createMailTransport(config.smtpUrl!), log },
        { workflowBundle: { codePath: inject('workflowBundlePath') } },
      )
    : undefined;
  const workerDone = worker?.run();
  const connection = await Connection.connect({ address: config.temporal.address! });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  const server: http.Server = await listen({ config, pool, temporal, log }, port, '127.0.0.1');

  return {
    baseUrl: config.publicBaseUrl,
    config,
    pool,
    smtp,
    temporal,
    worker,
    async stop() {
      await closeServer(server);
      worker?.shutdown();
      await workerDone;
      await Promise.all([workerConnection?.close(), connection.close(), pool.end(), smtp.stop()]);
    },
  };
}
