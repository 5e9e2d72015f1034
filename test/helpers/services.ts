import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type http from 'node:http';
import { inject } from 'vitest';
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type pg from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { createWorker } from '../../src/worker';
import { closeServer, createTemporalClient, listen } from '../../src/api/server';
import { freePort } from '../../src/dev/ports';
import { tracingFor } from '../../src/observability/tracing';

/**
 * Building blocks of every test's services: an API, an in-process worker or a worker in a child
 * process that can really be SIGKILLed, each pointed at whatever Temporal, PostgreSQL and SMTP
 * server the test runs (the shared ones of the run or a test's own, restartable ones).
 * test/helpers/stack.ts puts the usual set together.
 */

export const TEST_TOKEN_SECRET = 'test-secret-test-secret-test-secret-0123456789';
const PROJECT_ROOT = path.resolve(__dirname, '../..');
const WORKER_SCRIPT = path.join(PROJECT_ROOT, 'test/helpers/worker-process.ts');

let runtimeInstalled = false;
/** The Temporal SDK's native runtime, once per process, logging errors only (restarts make it chatty). */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed by another helper in this process.
  }
}

export interface ServiceEnvOptions {
  temporalAddress?: string;
  databaseUrl?: string;
  smtpUrl: string;
  /** The API's port; links in mail point there. */
  port: number;
  taskQueue?: string;
  env?: Record<string, string>;
}

/** The environment (as strings, so a child process gets exactly the same) of one API or worker. */
export function serviceEnv(opts: ServiceEnvOptions): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: String(opts.port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${opts.port}`,
    DATABASE_URL: opts.databaseUrl ?? inject('databaseUrl'),
    TEMPORAL_ADDRESS: opts.temporalAddress ?? inject('temporalAddress'),
    TASK_QUEUE: opts.taskQueue ?? `test-${randomUUID()}`,
    SMTP_URL: opts.smtpUrl,
    TOKEN_SECRET: TEST_TOKEN_SECRET,
    // All test traffic comes from 127.0.0.1 into one database: per-client limits (and per-user
    // ones the suite does not test) out of the way; test/auth/ sets its own, with TRUST_PROXY.
    SIGNIN_FREE_FAILURES_PER_CLIENT: '1000000000',
    LIMIT_SIGNUP_PER_CLIENT: '1000000000/1h',
    LIMIT_AVAILABILITY_PER_CLIENT: '1000000000/1h',
    LIMIT_START_PER_USER: '1000000000/1h',
    LIMIT_START_PER_ADDRESS: '1000000000/1h',
    ...opts.env,
  };
}

export interface FaultApi {
  /** Where this API listens (links in mail point at PUBLIC_BASE_URL, which may be another API). */
  baseUrl: string;
  config: Config;
  pool: pg.Pool;
  temporal: Client;
  stop(): Promise<void>;
}

/** The API as src/api/server.ts runs it (lazy Temporal client, its own pool), on 127.0.0.1. */
export async function startApi(env: Record<string, string>): Promise<FaultApi> {
  const config = loadConfig(env);
  const log = createLogger(config.logLevel, { service: 'fault-api' });
  const pool = createPool(config.databaseUrl!, config.databasePoolSize, log);
  const temporal = createTemporalClient(config.temporal.address!, config.temporal.namespace, config.payloadKeys, tracingFor(config, 'api'));
  const server: http.Server = await listen({ config, pool, temporal, log }, config.port, '127.0.0.1');
  return {
    baseUrl: `http://127.0.0.1:${config.port}`,
    config,
    pool,
    temporal,
    async stop() {
      await closeServer(server);
      await temporal.connection.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

/** A second API on its own port with the same task queue (e.g. to start requests under another EMAIL_CHANGE_TTL). */
export async function startExtraApi(base: Record<string, string>, overrides: Record<string, string>): Promise<FaultApi> {
  const port = await freePort();
  return startApi({ ...base, PORT: String(port), ...overrides });
}

export interface InProcessWorker {
  worker: Worker;
  pool: pg.Pool;
  stop(): Promise<void>;
}

/** A worker in this process, with the run's pre-built workflow bundle. */
export async function startInProcessWorker(env: Record<string, string>): Promise<InProcessWorker> {
  installQuietRuntime();
  const config = loadConfig(env);
  const log = createLogger(config.logLevel, { service: 'fault-worker' });
  const pool = createPool(config.databaseUrl!, config.databasePoolSize, log);
  const connection = await NativeConnection.connect({ address: config.temporal.address! });
  const mail = createMailTransport(config.smtpUrl!, { allowInsecure: config.smtpAllowInsecure, smtpUtf8: config.smtpUtf8 });
  const worker = await createWorker(
    connection,
    { config, pool, mail, log },
    { workflowBundle: { codePath: inject('workflowBundlePath') } },
  );
  const done = worker.run();
  return {
    worker,
    pool,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
      mail.close();
      await connection.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

export interface ChildWorker {
  pid: number;
  child: ChildProcess;
  /** Resolves once the worker polls its task queue. */
  ready: Promise<void>;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<string>;
  output(): string;
  /** SIGKILL: no shutdown, no cleanup, in-flight activities are lost mid-way. */
  kill(): Promise<string>;
}

/** Runs test/helpers/worker-process.ts (createWorker from src/worker.ts) as `node --import tsx`, so it can be SIGKILLed. */
export function spawnWorker(env: Record<string, string>): ChildWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env, WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready after 60 s:\n${output}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('WORKER_RUNNING')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${how}) before it was ready:\n${output}`));
    });
  });
  ready.catch(() => undefined);
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  return {
    pid: child.pid!,
    child,
    ready,
    exited,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exited;
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

/** Runs `task` over `items` with at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i]!, i);
      }
    }),
  );
  return results;
}
