import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection, type TLSConfig } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import net from 'node:net';
import { freePort, waitForPort } from './ports';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './postgres';
import { DEV_RETENTION_MS, stopChild } from './temporal';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/**
 * The real Temporal server (not the dev server) as a cluster of separate processes on this
 * machine: frontend, matching, two history hosts and the system worker, with membership between
 * them, on PostgreSQL. Built from source with the Go toolchain (v1.31+ needs a module the proxy
 * refuses). For issue #13: proving the service against the production server's behaviour.
 */

export const TEMPORAL_SERVER_VERSION = '1.30.4';
const GO_TOOLCHAIN = 'go1.26.10';
const MODULE = 'go.temporal.io/server';
const PROJECT_ROOT = path.resolve(__dirname, '../..');
export const TEMPORAL_SERVER_DIR = path.join(PROJECT_ROOT, '.tools', `temporal-server-${TEMPORAL_SERVER_VERSION}`);
const NUM_HISTORY_SHARDS = 4;

export interface TemporalServerBuild {
  /** `go install` names binaries after their package: cmd/server → server, cmd/tools/sql → sql. */
  server: string;
  sqlTool: string;
  /** The module's source in the Go module cache (config/, schema/). */
  moduleDir: string;
}

const goEnv = () => ({ ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN, GOBIN: TEMPORAL_SERVER_DIR });

/**
 * Builds the pinned server and SQL tool into .tools/ once (about 7 minutes on 2 cores, a progress
 * line every 30 s), then reuses them.
 */
export async function buildTemporalServer(log: (line: string) => void = () => undefined): Promise<TemporalServerBuild> {
  const server = path.join(TEMPORAL_SERVER_DIR, 'server');
  const sqlTool = path.join(TEMPORAL_SERVER_DIR, 'sql');
  if (!fs.existsSync(server) || !fs.existsSync(sqlTool)) {
    log(`Building Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool into ${TEMPORAL_SERVER_DIR} (Go ${GO_TOOLCHAIN}, about 7 minutes on 2 cores the first time)`);
    fs.mkdirSync(TEMPORAL_SERVER_DIR, { recursive: true });
    const pkgs = ['cmd/server', 'cmd/tools/sql'].map((p) => `${MODULE}/${p}@v${TEMPORAL_SERVER_VERSION}`);
    const started = Date.now();
    const progress = setInterval(() => log(`  still building the Temporal server (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    try {
      const result = await runTool('go', ['install', ...pkgs], goEnv());
      if (result.code !== 0) throw new Error(`go install ${pkgs.join(' ')} failed (exit ${result.code}): ${tail(result.output)}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('cannot run go (needed to build the Temporal server): install Go 1.21 or later; it fetches the pinned toolchain itself', { cause: err });
      throw err;
    } finally {
      clearInterval(progress);
    }
    log(`Built in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  const download = await runTool('go', ['mod', 'download', '-json', `${MODULE}@v${TEMPORAL_SERVER_VERSION}`], goEnv(), { stderr: false });
  if (download.code !== 0) throw new Error(`go mod download ${MODULE}@v${TEMPORAL_SERVER_VERSION} failed: ${tail(download.output)}`);
  const moduleDir = (JSON.parse(download.output) as { Dir: string }).Dir;
  return { server, sqlTool, moduleDir };
}

export type ClusterRole = 'frontend' | 'matching' | 'history' | 'worker';

interface ServicePorts {
  grpcPort: number;
  membershipPort: number;
  httpPort?: number;
}

export interface ClusterProcess {
  /** frontend, matching, history-1, history-2, worker */
  name: string;
  role: ClusterRole;
  ports: ServicePorts;
  configFile: string;
  logFile: string;
  pid(): number | undefined;
}

/**
 * TLS on the frontend with required client certificates (mutual TLS). PEM files, made by the caller:
 * `caFile` signed the frontend's certificate and every client certificate the frontend accepts.
 */
export interface ClusterTls {
  caFile: string;
  /** The frontend's certificate (its subjectAltName holds `serverName`) and key. */
  serverCertFile: string;
  serverKeyFile: string;
  /** The name clients check the frontend's certificate against. */
  serverName: string;
  /** The client certificate of the cluster's own callers of the frontend: its system worker, and start-up (namespace, search attributes). */
  internalCertFile: string;
  internalKeyFile: string;
}

export interface TemporalCluster {
  /** The frontend's gRPC address (host:port). */
  address: string;
  namespace: string;
  /** Set when the frontend requires mutual TLS. */
  tls?: ClusterTls;
  /**
   * What our API and worker need to reach the cluster, as the @temporalio/envconfig variables
   * src/temporal-connection.ts reads: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and, with `tls`, the CA and
   * server name (the client certificate is the caller's own: TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH).
   */
  clientEnv: Record<string, string>;
  /** The PostgreSQL server's `email_change` database (embedded, or DATABASE_URL as given). */
  databaseUrl: string;
  processes: ClusterProcess[];
  /** SIGKILLs one process (no shutdown); resolves once it is gone. */
  kill(name: string): Promise<void>;
  /** Starts a process that was killed or stopped again, with the same config and ports. */
  restart(name: string): Promise<void>;
  /** Stops every process (SIGTERM, then SIGKILL after 10 s), the embedded PostgreSQL and deletes `dir` if it made it. */
  stop(): Promise<void>;
}

export interface TemporalClusterOptions {
  /** A PostgreSQL server to hold the `temporal` and `temporal_visibility` databases; embedded when omitted. */
  databaseUrl?: string;
  /** Configs, logs (and the embedded PostgreSQL's data): a temporary directory, deleted by stop(), when omitted. */
  dir?: string;
  namespace?: string;
  retentionMs?: number;
  historyHosts?: number;
  log?: (line: string) => void;
  /** Called with each server process's pid as it is spawned. */
  onSpawn?: (pid: number) => void;
  /** Aborts start-up (Ctrl-C): what was started is stopped and start rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Mutual TLS on the frontend (certificates made by the caller); plain gRPC when omitted. */
  tls?: ClusterTls;
  /** Dynamic config keys set for every process, over the defaults below (the bench adds eager activities). */
  dynamicConfig?: Record<string, unknown>;
}

/** Builds (once) and starts the cluster, sets up its schemas, namespace and search attributes. */
export async function startTemporalCluster(opts: TemporalClusterOptions = {}): Promise<TemporalCluster> {
  const log = opts.log ?? (() => undefined);
  const namespace = opts.namespace ?? 'default';
  const build = await buildTemporalServer(log);
  opts.signal?.throwIfAborted();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-cluster-'));
  // The embedded PostgreSQL may run as the `postgres` user (as root), which must enter it.
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  const children = new Map<string, ChildProcess>();
  let postgres: EmbeddedPostgresHandle | undefined;
  const killAll = () => children.forEach((child) => child.kill('SIGKILL'));
  process.on('exit', killAll);

  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all([...children.values()].map(stopChild));
    children.clear();
    await postgres?.stop();
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (!opts.databaseUrl) {
      log('Starting PostgreSQL (embedded)');
      postgres = await startEmbeddedPostgres(path.join(dir, 'postgres'), { persistent: false, onSpawn: opts.onSpawn });
    }
    opts.signal?.throwIfAborted();
    const databaseUrl = opts.databaseUrl ?? postgres!.url;
    log('Setting up the temporal and temporal_visibility schemas');
    await setUpSchemas(build, databaseUrl, opts.signal);

    opts.signal?.throwIfAborted();
    const processes = await planProcesses(dir, opts.historyHosts ?? 2);
    const dynamicConfig = path.join(dir, 'dynamicconfig.yaml');
    const overrides = Object.fromEntries(Object.entries(opts.dynamicConfig ?? {}).map(([key, value]) => [key, [{ value }]]));
    fs.writeFileSync(dynamicConfig, stringify({ ...DYNAMIC_CONFIG, ...overrides }));
    const base = parse(fs.readFileSync(path.join(build.moduleDir, 'config', 'development-postgres12.yaml'), 'utf8')) as Record<string, any>;
    for (const proc of processes) {
      fs.writeFileSync(proc.configFile, stringify(adaptConfig(base, processes, proc, databaseUrl, dynamicConfig, opts.tls)));
    }

    const spawnProcess = (proc: ClusterProcess) => {
      const out = fs.openSync(proc.logFile, 'a');
      const child = spawn(build.server, ['--config-file', proc.configFile, '--allow-no-auth', 'start', '--service', proc.role], {
        cwd: dir,
        detached: true, // Ctrl-C reaches the script, which stops the services in order.
        stdio: ['ignore', out, out],
      });
      fs.closeSync(out);
      children.set(proc.name, child);
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    };
    // The first process to start writes the cluster metadata; several at once on a new database race on it.
    const frontend = processes.find((p) => p.role === 'frontend')!;
    log('Starting frontend');
    spawnProcess(frontend);
    await waitForPortOrExit(frontend.ports.grpcPort, children.get(frontend.name)!, frontend.logFile);
    opts.signal?.throwIfAborted();
    const rest = processes.filter((p) => p !== frontend);
    log(`Starting ${rest.map((p) => p.name).join(', ')}`);
    for (const proc of rest) spawnProcess(proc);

    const address = `127.0.0.1:${frontend.ports.grpcPort}`;
    await setUpNamespace({ address, tls: opts.tls && clientTlsConfig(opts.tls) }, namespace, opts.retentionMs ?? DEV_RETENTION_MS, () => {
      opts.signal?.throwIfAborted();
      return exitedEarly(children, processes);
    });

    const byName = (name: string) => {
      const proc = processes.find((p) => p.name === name);
      if (!proc) throw new Error(`no cluster process named ${name} (${processes.map((p) => p.name).join(', ')})`);
      return proc;
    };
    for (const proc of processes) proc.pid = () => children.get(proc.name)?.pid;
    const clientEnv: Record<string, string> = { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace };
    if (opts.tls) Object.assign(clientEnv, { TEMPORAL_TLS_SERVER_CA_CERT_PATH: opts.tls.caFile, TEMPORAL_TLS_SERVER_NAME: opts.tls.serverName });
    return {
      address,
      namespace,
      tls: opts.tls,
      clientEnv,
      databaseUrl,
      processes,
      async kill(name) {
        const child = children.get(byName(name).name);
        children.delete(name);
        if (child && child.exitCode === null && child.signalCode === null) {
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await gone;
        }
      },
      async restart(name) {
        const proc = byName(name);
        const running = children.get(name);
        if (running && running.exitCode === null && running.signalCode === null) return;
        spawnProcess(proc);
      },
      stop,
    };
  } catch (err) {
    if (opts.signal?.aborted) {
      // Interrupted: whatever failed meanwhile (a tool killed by the same Ctrl-C) is not the story.
      await stop();
      throw opts.signal.reason;
    }
    const logs = [...children.keys()].map((name) => path.join(dir, `${name}.log`));
    const reasons = logs.filter((f) => fs.existsSync(f)).flatMap((f) => {
      const reason = lastFatal(fs.readFileSync(f, 'utf8'));
      return reason ? [`  ${path.basename(f, '.log')}: ${reason}`] : [];
    });
    await stop();
    if (reasons.length) (err as Error).message += `\n${reasons.join('\n')}`;
    throw err;
  }
}

/**
 * For a cluster on one machine: search attributes visible as soon as they are added, and the
 * history queues polled as often as the dev server's tuning does (src/dev/temporal.ts).
 */
const DYNAMIC_CONFIG = {
  'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true }],
  'history.transferProcessorMaxPollRPS': [{ value: 1000 }],
  'history.timerProcessorMaxPollRPS': [{ value: 1000 }],
  'history.visibilityProcessorMaxPollRPS': [{ value: 1000 }],
};

async function planProcesses(dir: string, historyHosts: number): Promise<ClusterProcess[]> {
  const names: [string, ClusterRole][] = [
    ['frontend', 'frontend'],
    ['matching', 'matching'],
    ...Array.from({ length: historyHosts }, (_, i): [string, ClusterRole] => [`history-${i + 1}`, 'history']),
    ['worker', 'worker'],
  ];
  const processes: ClusterProcess[] = [];
  for (const [name, role] of names) {
    const ports: ServicePorts = { grpcPort: await freePort(), membershipPort: await freeSmallintPort() };
    if (role === 'frontend') ports.httpPort = await freePort();
    processes.push({ name, role, ports, configFile: path.join(dir, `${name}.yaml`), logFile: path.join(dir, `${name}.log`), pid: () => undefined });
  }
  return processes;
}

/** A free port below 32768: cluster_membership.rpc_port is a SMALLINT in the PostgreSQL schema, and ephemeral ports start above it. */
async function freeSmallintPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 20000 and 32000 for Temporal membership');
}

/** The module's development-postgres12.yaml with this machine's ports, database and membership. */
function adaptConfig(base: Record<string, any>, processes: ClusterProcess[], self: ClusterProcess, databaseUrl: string, dynamicConfig: string, tls?: ClusterTls) {
  const config = structuredClone(base);
  const url = new URL(databaseUrl);
  for (const [store, database] of [['postgres-default', 'temporal'], ['postgres-visibility', 'temporal_visibility']] as const) {
    Object.assign(config.persistence.datastores[store].sql, {
      databaseName: database,
      connectAddr: `${url.hostname}:${url.port || 5432}`,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      maxConns: store === 'postgres-default' ? 10 : 4,
      maxIdleConns: store === 'postgres-default' ? 10 : 4,
    });
  }
  config.persistence.numHistoryShards = NUM_HISTORY_SHARDS;
  config.log = { stdout: true, level: 'warn' };
  // One process per service on one host: no shared pprof or metrics port.
  delete config.global.pprof;
  delete config.global.metrics;
  config.global.membership = { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' };
  const rpc = (p: ClusterProcess) => ({ ...p.ports, bindOnLocalHost: true });
  // Every process lists each role; a history host lists its own ports (the others find it through membership).
  const first = (role: ClusterRole) => (self.role === role ? self : processes.find((p) => p.role === role)!);
  config.services = Object.fromEntries((['frontend', 'matching', 'history', 'worker'] as const).map((role) => [role, { rpc: rpc(first(role)) }]));
  const frontend = processes.find((p) => p.role === 'frontend')!;
  config.clusterMetadata.clusterInformation.active.rpcAddress = `127.0.0.1:${frontend.ports.grpcPort}`;
  config.archival = { history: { state: 'disabled' }, visibility: { state: 'disabled' } };
  config.namespaceDefaults = { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } };
  config.dynamicConfigClient = { filepath: dynamicConfig, pollInterval: '10s' };
  if (tls) {
    // Every process gets the same block: the frontend serves it, the system worker (and any other service calling the frontend) presents `internal*`.
    const client = { serverName: tls.serverName, rootCaFiles: [tls.caFile] };
    config.global.tls = {
      frontend: { server: { certFile: tls.serverCertFile, keyFile: tls.serverKeyFile, requireClientAuth: true, clientCaFiles: [tls.caFile] }, client },
      systemWorker: { certFile: tls.internalCertFile, keyFile: tls.internalKeyFile, client },
    };
  }
  return config;
}

/** `temporal-sql-tool`: creates both databases when missing, sets up a new one at 0.0, updates both to the version this server wants. */
async function setUpSchemas(build: TemporalServerBuild, databaseUrl: string, signal?: AbortSignal): Promise<void> {
  const url = new URL(databaseUrl);
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    for (const [database, schemaDir] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
      const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount !== 0;
      const sqlTool = async (...args: string[]) => {
        signal?.throwIfAborted();
        const common = ['--plugin', 'postgres12', '--ep', url.hostname, '-p', url.port || '5432', '-u', decodeURIComponent(url.username), '--db', database];
        const result = await runTool(build.sqlTool, [...common, ...args], { ...process.env, SQL_PASSWORD: decodeURIComponent(url.password) });
        if (result.code !== 0) throw new Error(`temporal-sql-tool ${args[0]} (${database}) failed: ${tail(result.output)}`);
      };
      if (!exists) {
        await sqlTool('create');
        await sqlTool('setup-schema', '-v', '0.0');
      }
      await sqlTool('update-schema', '-d', path.join(build.moduleDir, 'schema', 'postgresql', 'v12', schemaDir, 'versioned'));
    }
  } finally {
    await admin.end();
  }
}

/**
 * A tool run without blocking the event loop: a blocked process cannot answer Ctrl-C, and a parent
 * that relays signals (tsx) SIGKILLs a child that does not answer within 60 ms, leaving its temporary
 * directory behind.
 */
function runTool(file: string, args: string[], env: NodeJS.ProcessEnv, keepOf: { stderr: boolean } = { stderr: true }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-1_000_000));
    child.stdout.on('data', keep);
    if (keepOf.stderr) child.stderr.on('data', keep);
    else child.stderr.resume();
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** The client side of ClusterTls: the CA, the server name and the cluster's own client certificate. */
export function clientTlsConfig(tls: ClusterTls, client: { certFile: string; keyFile: string } = { certFile: tls.internalCertFile, keyFile: tls.internalKeyFile }): TLSConfig {
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: fs.readFileSync(tls.caFile),
    clientCertPair: { crt: fs.readFileSync(client.certFile), key: fs.readFileSync(client.keyFile) },
  };
}

/** Waits for the frontend, registers the namespace (with its retention) and adds the project's search attributes. */
async function setUpNamespace(
  frontend: { address: string; tls?: TLSConfig },
  namespace: string,
  retentionMs: number,
  exited: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  const retry = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    for (;;) {
      const dead = exited();
      if (dead) throw new Error(`Temporal ${dead} exited during start-up`);
      try {
        return await call();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const connection = await retry('connecting to the frontend', () => Connection.connect({ ...frontend, connectTimeout: 2_000 }));
  try {
    await retry('registering the namespace', () =>
      connection.workflowService
        .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionMs) })
        .catch((err: { code?: number }) => {
          if (err.code !== 6) throw err; // ALREADY_EXISTS: a DATABASE_URL kept from an earlier run
        }),
    );
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    const searchAttributes = Object.fromEntries(Object.values(SEARCH_ATTRIBUTES).map((sa) => [sa.name, keyword]));
    await retry('adding the search attributes', async () => {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = Object.fromEntries(Object.entries(searchAttributes).filter(([name]) => !customAttributes?.[name]));
      if (Object.keys(missing).length) await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    });
    // Every frontend's namespace cache has it (refreshed every 2 s) once a call that needs it succeeds.
    await retry('listing workflows in the new namespace', () => connection.workflowService.countWorkflowExecutions({ namespace }));
  } finally {
    await connection.close();
  }
}

async function waitForPortOrExit(port: number, child: ChildProcess, logFile: string): Promise<void> {
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`Temporal frontend exited (code ${code}; log ${logFile})`))));
  exited.catch(() => undefined);
  await Promise.race([waitForPort('127.0.0.1', port, 120_000), exited]);
}

function exitedEarly(children: Map<string, ChildProcess>, processes: ClusterProcess[]): string | undefined {
  for (const [name, child] of children) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const proc = processes.find((p) => p.name === name)!;
      return `${name} (exit ${child.exitCode ?? child.signalCode}; log ${proc.logFile})`;
    }
  }
  return undefined;
}


/** `msg: error` of a server log's last fatal (else error) line. */
function lastFatal(log: string): string | undefined {
  const entries = log.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as { level?: string; msg?: string; error?: string }];
    } catch {
      return [];
    }
  });
  entries.reverse();
  const entry = entries.find((e) => e.level === 'fatal') ?? entries.find((e) => e.level === 'error');
  return entry && `${entry.msg}${entry.error ? `: ${entry.error}` : ''}`;
}

const tail = (text: string, lines = 15) => text.trim().split('\n').slice(-lines).join('\n');
