import fs from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Reading other processes' CPU time and memory from Linux's /proc (undefined elsewhere). */

const CLK_TCK = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

export interface ProcStat {
  pid: number;
  ppid: number;
  /** CPU of the process itself (all its threads), ms. */
  cpuMs: number;
  /** CPU of its children that have exited and been waited for, ms. */
  reapedChildrenCpuMs: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may contain spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(rest[n - 3]);
  const toMs = (ticks: number) => (ticks * 1000) / CLK_TCK;
  return {
    pid,
    ppid: field(4),
    cpuMs: toMs(field(14) + field(15)),
    reapedChildrenCpuMs: toMs(field(16) + field(17)),
  };
}

/** Resident set size in bytes (VmRSS), or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  try {
    return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [];
  }
}

export function childPids(ppid: number): number[] {
  return allPids().filter((pid) => readStat(pid)?.ppid === ppid);
}

function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** The first process whose argv matches (e.g. the Temporal dev server listening on a given port). */
export function findPid(match: (argv: string[]) => boolean): number | undefined {
  return allPids().find((pid) => match(cmdline(pid)));
}

/**
 * CPU ms of a process tree rooted at `pid` one level deep (PostgreSQL: the postmaster and its
 * backends). Exited backends are already in the root's reaped-children time, live ones are added.
 */
export function treeCpuMs(pid: number): number | undefined {
  const root = readStat(pid);
  if (!root) return undefined;
  let total = root.cpuMs + root.reapedChildrenCpuMs;
  for (const child of childPids(pid)) total += readStat(child)?.cpuMs ?? 0;
  return total;
}

export function cpuMs(pid: number): number | undefined {
  return readStat(pid)?.cpuMs;
}

/** Sum of RSS over a tree (root and its direct children), bytes. */
export function treeRssBytes(pid: number): number | undefined {
  const root = rssBytes(pid);
  if (root === undefined) return undefined;
  return childPids(pid).reduce((sum, child) => sum + (rssBytes(child) ?? 0), root);
}
