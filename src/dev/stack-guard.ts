import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';

/**
 * One `npm start` per DATA_DIR, and no server it started outlives it.
 *
 * - `DATA_DIR/npm-start.lock` names the owner (pid and start time) and every child it started;
 *   a second start on the same DATA_DIR is refused while the owner lives, and a start that finds
 *   a dead owner stops the children it left first.
 * - A watchdog (`sh` in a session of its own) reads the children's pids on its stdin and signals
 *   them when that pipe closes, which the kernel does however the owner ends, SIGKILL included
 *   (Node has no PR_SET_PDEATHSIG).
 * - `watchLaunchers` notices the processes that launched this one (`npm start` runs npm → sh →
 *   node) going away: a SIGKILLed npm leaves node running, reparented, with the whole stack.
 */

export class DataDirInUse extends Error {}

interface Child {
  name: string;
  pid: number;
  start: string;
  signal: NodeJS.Signals;
}

interface LockFile {
  pid: number;
  start: string;
  children: Child[];
}

export interface StackGuard {
  /** Records a child just spawned: signalled (then SIGKILLed) if this process dies before stopping it. */
  adopt(name: string, pid: number, signal: NodeJS.Signals): void;
  /** Signals every adopted child still running and waits for it (SIGKILL after `graceMs`). */
  stopChildren(graceMs?: number): Promise<void>;
  /** Everything was stopped in order: drop the lock and the watchdog. */
  release(): void;
}

export const LOCK_FILE = 'npm-start.lock';

// Lines "pid:SIGNAL" until EOF (the owner is gone); then signal each, and SIGKILL what is left after 10 s.
const WATCHDOG = `
trap '' INT HUP
list=''
while read -r entry; do list="$list $entry"; done
for e in $list; do kill -s "\${e#*:}" "\${e%%:*}" 2>/dev/null; done
n=0
while [ $n -lt 100 ]; do
  alive=''
  for e in $list; do kill -0 "\${e%%:*}" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.1; n=$((n + 1))
done
for e in $list; do kill -s KILL "\${e%%:*}" 2>/dev/null; done
`;

/** Claims `dataDir` for this process (stopping what a dead owner left running); throws DataDirInUse when another start holds it. */
export async function claimDataDir(dataDir: string, log: (line: string) => void = () => undefined): Promise<StackGuard> {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const self: LockFile = { pid: process.pid, start: startTime(process.pid) ?? '?', children: [] };
  const inUse = (pid: number | string) =>
    new DataDirInUse(`DATA_DIR ${dataDir} is in use by another npm start (pid ${pid}); stop it, or set DATA_DIR to another directory`);

  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(self), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const held = readLock(file);
      if (!held) {
        // Being written by a start that began a moment ago, or garbage: only the latter is taken over.
        if (attempt > 0 || Date.now() - fs.statSync(file).mtimeMs < 5_000) throw inUse('unknown');
      } else if (attempt > 0 || isRunning(held.pid, held.start)) {
        throw inUse(held.pid);
      } else {
        const left = held.children.filter((c) => isRunning(c.pid, c.start));
        if (left.length > 0) {
          log(`stopping ${left.map((c) => `${c.name} (pid ${c.pid})`).join(', ')}, left running by an npm start that ended without stopping them`);
          await stopProcesses(left, 10_000);
        }
      }
      fs.rmSync(file, { force: true });
    }
  }

  const watchdog = spawnWatchdog();
  const write = () => fs.writeFileSync(file, JSON.stringify(self));
  let released = false;
  const liveChildren = () => self.children.filter((c) => isRunning(c.pid, c.start));
  process.on('exit', () => {
    if (released) return;
    // A crash: signal the children now; the watchdog SIGKILLs any that linger, and the lock stays for the next start.
    const left = liveChildren();
    for (const child of left) signal(child.pid, child.signal);
    if (left.length === 0) {
      watchdog.kill('SIGKILL');
      fs.rmSync(file, { force: true });
    }
  });

  return {
    adopt(name, pid, sig) {
      // Spawned while stopping (a start that was under way): it goes at once.
      if (released) return void signal(pid, sig);
      self.children.push({ name, pid, start: startTime(pid) ?? '?', signal: sig });
      write();
      watchdog.stdin?.write(`${pid}:${sig.replace(/^SIG/, '')}\n`);
    },
    stopChildren: (graceMs = 10_000) => stopProcesses(liveChildren(), graceMs),
    release() {
      if (released) return;
      released = true;
      watchdog.kill('SIGKILL');
      if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true });
    },
  };
}

function spawnWatchdog(): ChildProcess {
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.unref();
  // The pipe must not keep this process alive; it closes when this process ends, which is the point.
  (watchdog.stdin as net.Socket).unref();
  watchdog.stdin!.on('error', () => undefined);
  return watchdog;
}

function readLock(file: string): LockFile | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as LockFile;
    return typeof parsed.pid === 'number' && Array.isArray(parsed.children) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The process's start time in clock ticks (/proc/<pid>/stat field 22), so a reused pid is not mistaken for it; '?' without /proc. */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    if (fs.existsSync('/proc/self/stat')) return undefined;
    try {
      process.kill(pid, 0);
      return '?';
    } catch {
      return undefined;
    }
  }
}

function isRunning(pid: number, start: string): boolean {
  const now = startTime(pid);
  return now !== undefined && (start === '?' || now === '?' || now === start);
}

function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

async function stopProcesses(children: Child[], graceMs: number): Promise<void> {
  for (const child of children) signal(child.pid, child.signal);
  const deadline = Date.now() + graceMs;
  while (children.some((c) => isRunning(c.pid, c.start))) {
    if (Date.now() > deadline) {
      for (const child of children) if (isRunning(child.pid, child.start)) signal(child.pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A process, told apart from a later one with the same pid by its start time. */
export interface ProcessId {
  pid: number;
  start: string;
}

/** The parent's pid (/proc/<pid>/stat field 4); undefined when unknown. */
function parentOf(pid: number): number | undefined {
  if (pid === process.pid) return process.ppid;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** True when the process runs inside an npm script (npm sets npm_lifecycle_event for the script and what it starts, not for itself). */
function inNpmScript(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith('npm_lifecycle_event='));
  } catch {
    return false;
  }
}

/**
 * The processes that launched this one: its parent and, while that runs inside an npm script,
 * each ancestor up to npm itself (`npm start`: sh, then npm). Not beyond: whatever started npm
 * (a shell that ran `npm start &` and exited) may go away without stopping anything.
 */
export function launchers(pid = process.pid): ProcessId[] {
  const chain: ProcessId[] = [];
  for (let current = parentOf(pid); current !== undefined && current > 1 && chain.length < 16; current = parentOf(current)) {
    const start = startTime(current);
    if (start === undefined) break;
    chain.push({ pid: current, start });
    if (!inNpmScript(current)) break;
  }
  return chain;
}

/**
 * Calls `onGone` once (checking every `intervalMs`) when one of this process's launchers ends or
 * this process is reparented, e.g. after `kill -9` of npm or of the shell between npm and node.
 * Returns a function that stops watching.
 */
export function watchLaunchers(onGone: (launcher: number) => void, intervalMs = 1_000): () => void {
  const parent = process.ppid;
  const chain = launchers();
  if (parent <= 1 && chain.length === 0) return () => undefined;
  const timer = setInterval(() => {
    const gone = process.ppid !== parent ? parent : chain.find((p) => !isRunning(p.pid, p.start))?.pid;
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
