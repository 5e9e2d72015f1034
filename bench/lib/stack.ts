import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type pg from 'pg';
import { knownVariables, loadConfig } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/log';
import { installTemporalRuntime } from '../../src/temporal-runtime';
import { createMailTransport } from '../../src/mail/transport';
import { createWorker } from '../../src/worker';
import { dataConverter } from '../../src/codec/data-converter';
import { listen, closeServer } from '../../src/api/server';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/dev/temporal';
import { startTemporalCluster, type TemporalCluster } from '../../src/dev/temporal-cluster';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/dev/postgres';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { freePort } from '../../src/dev/ports';
import { createBareWorker } from '../child/bare-worker';
import { ChildService, InProcessService, type Service } from './services';
import { cpuMs, findPid, readStat, treeCpuMs } from './proc';
import { buildWorkflowBundle } from '../../scripts/build-workflow-bundle';

/** Random per run: the bench runs with NODE_ENV=production, which refuses published secrets. */
export const BENCH_TOKEN_SECRET = randomBytes(32).toString('base64');
export const BENCH_PAYLOAD_KEYS = `bench:${randomBytes(32).toString('base64')}`;

export interface StackOptions {
  /** 'child': API, worker and bare worker are child processes (per-process CPU); 'inprocess': all in this process. */
  mode: 'child' | 'inprocess';
  /** Use these servers instead of starting embedded ones (must be on this machine). */
  temporalAddress?: string;
  databaseUrl?: string;
  /** false: the dev server's stock settings instead of npm start's tuned ones. */
  temporalTuned?: boolean;
  /** The real Temporal server (src/dev/temporal-cluster.ts) on its own embedded PostgreSQL instead of the dev server. */
  temporalCluster?: boolean;
  /** In-process only: a prebuilt bundle of src/workflows (the test global setup's). */
  workflowBundlePath?: string;
  logLevel: string;
  /** Extra configuration for the API and worker (e.g. DATABASE_POOL_SIZE from the environment). */
  serviceEnv: Record<string, string>;
  log?: (line: string) => void;
}

export interface Stack {
  mode: 'child' | 'inprocess';
  tempDir: string;
  temporalAddress: string;
  namespace: string;
  databaseUrl: string;
  embedded: { temporal: boolean; postgres: boolean; temporalCli?: string };
  temporalDbFile?: string;
  /** The real server's processes (--temporal-cluster), for the report. */
  cluster?: { processes: string[] };
  /** CPU ms so far of the Temporal server's own processes; undefined when they are not ours to see. */
  temporalCpuMs(): number | undefined;
  /** CPU ms so far of the PostgreSQL that stores the real server's state (the dev server keeps its SQLite inside its process). */
  temporalStoreCpuMs(): number | undefined;
  /** Bytes Temporal's state takes on disk (the dev server's SQLite file and WAL, or the real server's two databases), and what that is. */
  temporalStorage(): Promise<{ bytes: number; what: string } | null>;
  postgresPid?: number;
  smtp: SmtpCapture;
  /** The bench's own pool: seeding users and reading sizes, never on the measured path. */
  pool: pg.Pool;
  /**
   * The bench's own Temporal client (the engine-bound flows, task-queue checks). No payload codec,
   * on purpose: the bare workflow carries synthetic data only, so the engine bound excludes the
   * codec's CPU, which the product flows (API and worker, PAYLOAD_KEYS) pay.
   */
  client: Client;
  taskQueue: string;
  bareTaskQueue: string;
  api: Service;
  apiBaseUrl: string;
  worker: Service;
  /** Starts the API again with extra configuration (e.g. a short EMAIL_CHANGE_TTL for the scale run). */
  restartApi(env: Record<string, string>): Promise<void>;
  startBareWorker(onMail: (mail: { changeId: string; userId: string; tokenHash: string }) => void): Promise<Service>;
  stop(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?)$/i;

/** The bench only ever loads servers on this machine. */
export function assertLoopback(what: string, host: string): void {
  if (!LOOPBACK.test(host)) {
    throw new Error(`${what} points to ${host}: the benchmark only loads servers on this machine (127.0.0.1, localhost, ::1)`);
  }
}

let runtimeInstalled = false;
function installRuntimeOnce(level: string) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    installTemporalRuntime(createLogger(level === 'silent' ? 'error' : level, { service: 'bench' }));
  } catch {
    // Already installed by the host process (a test file): keep that one.
  }
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const say = opts.log ?? (() => undefined);
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    return await build();
  } catch (err) {
    await stopAll();
    throw err;
  }

  async function build(): Promise<Stack> {
    const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'email-change-bench-'));
    fs.chmodSync(tempDir, 0o755); // embedded PostgreSQL runs as the postgres user when we are root
    stops.push(async () => fs.rmSync(tempDir, { recursive: true, force: true }));
    if (opts.temporalAddress) assertLoopback('TEMPORAL_ADDRESS', opts.temporalAddress.replace(/:\d+$/, ''));
    if (opts.databaseUrl) assertLoopback('DATABASE_URL', new URL(opts.databaseUrl).hostname);

    if (opts.temporalCluster && opts.temporalAddress) throw new Error('--temporal-cluster starts its own server: unset TEMPORAL_ADDRESS');
    const devServer = !opts.temporalAddress && !opts.temporalCluster;
    const temporalDbFile = devServer ? path.join(tempDir, 'temporal.db') : undefined;
    say(`starting ${[devServer && 'Temporal dev server', opts.temporalCluster && 'Temporal cluster (real server)', !opts.databaseUrl && 'PostgreSQL', 'SMTP capture'].filter(Boolean).join(', ')}`);
    const [temporal, cluster, postgres, smtp]: [TemporalDevServer | undefined, TemporalCluster | undefined, EmbeddedPostgresHandle | undefined, SmtpCapture] = await Promise.all([
      devServer ? startTemporalDevServer({ cliPath: process.env.TEMPORAL_CLI_PATH, dbFile: temporalDbFile, tuned: opts.temporalTuned }) : undefined,
      opts.temporalCluster ? startTemporalCluster({ dir: path.join(tempDir, 'temporal-cluster'), log: say, dynamicConfig: { 'system.enableActivityEagerExecution': true } }) : undefined,
      opts.databaseUrl ? undefined : startEmbeddedPostgres(path.join(tempDir, 'postgres'), { persistent: false }),
      startSmtpCapture({ maxMessages: 500 }),
    ]);
    if (temporal) stops.push(temporal.stop);
    if (cluster) stops.push(cluster.stop);
    if (postgres) stops.push(postgres.stop);
    stops.push(smtp.stop);

    const temporalAddress = opts.temporalAddress ?? cluster?.address ?? temporal!.address;
    const databaseUrl = opts.databaseUrl ?? postgres!.localUrl;
    const namespace = 'default';
    const log = createLogger(opts.logLevel === 'silent' ? 'silent' : 'warn', { service: 'bench' });
    await migrate(databaseUrl, log);
    const pool = createPool(databaseUrl, 5, log);
    stops.push(() => pool.end());
    const connection = await Connection.connect({ address: temporalAddress });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace });

    const port = Number(temporalAddress.split(':').pop());
    const devServerPid = devServer ? findPid((argv) => argv.includes('start-dev') && argv.some((a, i) => a === '--port' && argv[i + 1] === String(port))) : undefined;
    const postgresPid = await postmasterOf(pool);
    const clusterPool = cluster ? createPool(cluster.databaseUrl, 1, log) : undefined;
    if (clusterPool) stops.push(() => clusterPool.end());
    const clusterStorePid = clusterPool ? await postmasterOf(clusterPool) : undefined;
    const temporalCpuMs = (): number | undefined => {
      if (devServerPid) return cpuMs(devServerPid);
      if (!cluster) return undefined;
      const each = cluster.processes.map((p) => p.pid()).map((pid) => (pid === undefined ? undefined : cpuMs(pid)));
      return each.every((ms) => ms !== undefined) ? each.reduce((a, b) => a! + b!, 0) : undefined;
    };
    const temporalStoreCpuMs = () => (clusterStorePid ? treeCpuMs(clusterStorePid) : undefined);
    const temporalStorage = async (): Promise<{ bytes: number; what: string } | null> => {
      if (temporalDbFile) {
        const dir = path.dirname(temporalDbFile);
        const files = fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(temporalDbFile)));
        return { bytes: files.reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0), what: 'SQLite + WAL' };
      }
      if (!clusterPool) return null;
      const { rows } = await clusterPool.query<{ bytes: string }>("SELECT pg_database_size('temporal') + pg_database_size('temporal_visibility') AS bytes");
      return { bytes: Number(rows[0]!.bytes), what: 'PostgreSQL databases temporal + temporal_visibility' };
    };

    const runId = Date.now().toString(36);
    const taskQueue = `bench-email-change-${runId}`;
    const bareTaskQueue = `bench-bare-${runId}`;
    const apiPort = await freePort();
    const apiBaseUrl = `http://127.0.0.1:${apiPort}`;
    // What the production entry points read; the user's own tuning variables pass through.
    const passThrough = Object.fromEntries(knownVariables.filter((k) => process.env[k] !== undefined && process.env[k] !== '').map((k) => [k, process.env[k]!]));
    const baseEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
      // Every bench request comes from 127.0.0.1 and users start many changes: abuse limits out of the way (the user's own settings win).
      SIGNIN_FREE_FAILURES_PER_CLIENT: '1000000000',
      LIMIT_SIGNUP_PER_CLIENT: '1000000000/1h',
      LIMIT_AVAILABILITY_PER_CLIENT: '1000000000/1h',
      LIMIT_START_PER_USER: '1000000000/1h',
      LIMIT_START_PER_ADDRESS: '1000000000/1h',
      ...passThrough,
      NODE_ENV: 'production',
      LOG_LEVEL: opts.logLevel,
      TOKEN_SECRET: BENCH_TOKEN_SECRET,
      PAYLOAD_KEYS: BENCH_PAYLOAD_KEYS,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
      TASK_QUEUE: taskQueue,
      SMTP_URL: smtp.url,
      PORT: String(apiPort),
      PUBLIC_BASE_URL: apiBaseUrl,
      ...opts.serviceEnv,
      ...extra,
    });

    const hasPollers = async (queue: string) => {
      for (const taskQueueType of [1, 2]) {
        const res = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue, kind: 1 }, taskQueueType });
        if ((res.pollers ?? []).length === 0) return false;
      }
      return true;
    };
    const apiReady = async () => (await fetch(`${apiBaseUrl}/readyz`)).status === 200;

    let api: Service;
    let worker: Service;
    let startApi: (env: Record<string, string>) => Promise<Service>;
    let startBare: Stack['startBareWorker'];

    if (opts.mode === 'child') {
      startApi = async (extra) => {
        const child = ChildService.spawn('api', 'src/api/server.ts', baseEnv(extra), { probe: true });
        await child.untilReady(apiReady, 60_000);
        return child;
      };
      // The production worker runs a prebuilt bundle only (issue #13): build the current code into one, as `npm run build` does.
      say('building the workflow bundle, starting the worker and the API (child processes)');
      const bundle = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-bundle-')), 'workflow-bundle.js');
      await buildWorkflowBundle(bundle);
      const workerChild = ChildService.spawn('worker', 'src/worker.ts', baseEnv({ WORKFLOW_BUNDLE: bundle }), { probe: false });
      [api] = await Promise.all([startApi({}), workerChild.untilReady(() => hasPollers(taskQueue), 120_000)]);
      worker = workerChild;
      startBare = async (onMail) => {
        const bare = ChildService.spawn('bare-worker', 'bench/child/bare-worker.ts', { ...baseEnv(), TASK_QUEUE: bareTaskQueue, LOG_LEVEL: 'warn' }, { probe: false });
        bare.messages.push((msg) => {
          if (msg.type === 'bare-mail') onMail(msg as unknown as { changeId: string; userId: string; tokenHash: string });
        });
        await bare.untilReady(() => hasPollers(bareTaskQueue), 120_000);
        return bare;
      };
    } else {
      installRuntimeOnce(opts.logLevel);
      const serviceLog = createLogger(opts.logLevel);
      startApi = async (extra) => {
        const config = loadConfig(baseEnv(extra));
        const apiPool = createPool(databaseUrl, config.databasePoolSize, serviceLog);
        const apiConnection = await Connection.connect({ address: temporalAddress });
        const server: http.Server = await listen(
          { config, pool: apiPool, temporal: new Client({ connection: apiConnection, namespace, dataConverter: dataConverter(config.payloadKeys) }), log: serviceLog },
          apiPort,
          '127.0.0.1',
        );
        return new InProcessService('api', async () => {
          await closeServer(server);
          await Promise.all([apiConnection.close(), apiPool.end()]);
        });
      };
      api = await startApi({});
      const config = loadConfig(baseEnv());
      const workerPool = createPool(databaseUrl, config.databasePoolSize, serviceLog);
      const workerConnection = await NativeConnection.connect({ address: temporalAddress });
      const w = await createWorker(
        workerConnection,
        { config, pool: workerPool, mail: createMailTransport(smtp.url), log: serviceLog },
        opts.workflowBundlePath ? { workflowBundle: { codePath: opts.workflowBundlePath } } : undefined,
      );
      const done = w.run();
      worker = new InProcessService('worker', async () => {
        w.shutdown();
        await done;
        await Promise.all([workerConnection.close(), workerPool.end()]);
      });
      startBare = async (onMail) => {
        const bareConnection = await NativeConnection.connect({ address: temporalAddress });
        const bare = await createBareWorker({ connection: bareConnection, namespace, taskQueue: bareTaskQueue, onMail });
        const bareDone = bare.run();
        const service = new InProcessService('bare-worker', async () => {
          bare.shutdown();
          await bareDone;
          await bareConnection.close();
        });
        await waitUntil(() => hasPollers(bareTaskQueue), 60_000);
        return service;
      };
      await waitUntil(() => hasPollers(taskQueue), 60_000);
    }
    const services = { api, worker };
    stops.push(() => services.worker.stop());
    stops.push(() => services.api.stop());

    return {
      mode: opts.mode,
      tempDir,
      temporalAddress,
      namespace,
      databaseUrl,
      embedded: { temporal: !!temporal, postgres: !!postgres, temporalCli: temporal?.cli.source },
      temporalDbFile,
      ...(cluster ? { cluster: { processes: cluster.processes.map((p) => p.name) } } : {}),
      temporalCpuMs,
      temporalStoreCpuMs,
      temporalStorage,
      postgresPid,
      smtp,
      pool,
      client,
      taskQueue,
      bareTaskQueue,
      get api() {
        return services.api;
      },
      apiBaseUrl,
      get worker() {
        return services.worker;
      },
      async restartApi(env) {
        await services.api.stop();
        services.api = await startApi(env);
      },
      async startBareWorker(onMail) {
        const bare = await startBare(onMail);
        stops.push(() => bare.stop());
        return bare;
      },
      stop: stopAll,
    };
  }
}

/** The postmaster of the server a pool talks to (its backends are its children). */
async function postmasterOf(pool: pg.Pool): Promise<number | undefined> {
  const backend = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const postmaster = readStat(backend.rows[0]!.pid)?.ppid;
  return postmaster !== undefined && readStat(postmaster) ? postmaster : undefined;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
