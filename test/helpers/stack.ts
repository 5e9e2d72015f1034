import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Config } from '../../src/config';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { serviceEnv, startApi, startInProcessWorker } from './services';

export interface TestStack {
  baseUrl: string;
  config: Config;
  /** The environment the API and worker were configured from (for a worker process of the test's own). */
  env: Record<string, string>;
  pool: pg.Pool;
  smtp: SmtpCapture;
  temporal: Client;
  stop(): Promise<void>;
}

/**
 * A worker, an API and an SMTP capture server of this test file's own, on a task queue of its
 * own, against the run's shared real Temporal server and PostgreSQL. `env` overrides config;
 * `{ worker: false }` when the test runs its own worker process.
 */
export async function startStack(env: Record<string, string> = {}, opts: { worker?: boolean } = {}): Promise<TestStack> {
  const smtp = await startSmtpCapture();
  const stackEnv = { ...serviceEnv({ smtpUrl: smtp.url, port: await freePort() }), ...env };
  const worker = opts.worker === false ? undefined : await startInProcessWorker(stackEnv);
  const api = await startApi(stackEnv);
  return {
    baseUrl: api.baseUrl,
    config: api.config,
    env: stackEnv,
    pool: api.pool,
    smtp,
    temporal: api.temporal,
    async stop() {
      await api.stop();
      await worker?.stop();
      await smtp.stop();
    },
  };
}
