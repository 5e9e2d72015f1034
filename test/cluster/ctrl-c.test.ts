import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';

/**
 * Issue #13 item 1, "stops cleanly, leaves nothing behind": `npm run temporal:cluster` interrupted
 * as a terminal's Ctrl-C does it (SIGINT to npm's whole process group), at three moments: while the
 * embedded PostgreSQL is being created (initdb), while the Temporal services start, and once it
 * runs. Afterwards its temporary directory is gone and no process it started is alive. (Under
 * `tsx scripts/…`, tsx's signal relay SIGKILLed the script while initdb blocked it, leaving the
 * temporary directory behind.)
 */

const PROJECT_ROOT = path.resolve(__dirname, '../..');

/** Pids of live processes whose environment holds `marker` (every process the run started inherits it). */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

async function interruptAt(line: string, afterMs: number): Promise<{ output: string; exit: string; leftFiles: string[]; leftProcesses: number[] }> {
  const marker = `TEMPORAL_CLUSTER_CTRL_C_TEST=${randomUUID()}`;
  // Its own TMPDIR, which the postgres user (the embedded server runs as it under root) can enter.
  const tmp = fs.mkdtempSync(path.join(inject('tempDir'), 'ctrl-c-'));
  fs.chmodSync(tmp, 0o755);
  const [name, value] = marker.split('=') as [string, string];
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, [name]: value };
  delete env.DATABASE_URL;
  const npm = spawn('npm', ['run', 'temporal:cluster'], { cwd: PROJECT_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<string>((resolve) => npm.once('exit', (code, signal) => resolve(signal ?? String(code))));

  const deadline = Date.now() + 180_000;
  while (!output.includes(line)) {
    if (npm.exitCode !== null) throw new Error(`npm run temporal:cluster ended before "${line}":\n${output}`);
    if (Date.now() > deadline) throw new Error(`no "${line}" within 180 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, afterMs));
  process.kill(-npm.pid!, 'SIGINT'); // the terminal's Ctrl-C: every process in the foreground group
  const exit = await exited;
  // npm is gone; the script may still be stopping the services it started.
  const settled = Date.now() + 60_000;
  while (processesWith(marker).length && Date.now() < settled) await new Promise((r) => setTimeout(r, 200));
  // tsx keeps its compile cache in TMPDIR (tsx-<uid>) on purpose; anything else was left behind.
  const result = { output, exit, leftFiles: fs.readdirSync(tmp).filter((f) => !/^tsx-\d+$/.test(f)), leftProcesses: processesWith(marker) };
  for (const pid of result.leftProcesses) process.kill(pid, 'SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
  return result;
}

describe('npm run temporal:cluster, interrupted with Ctrl-C', () => {
  it.each([
    ['while PostgreSQL is being created', 'Starting PostgreSQL', 300],
    ['while the Temporal services start', 'Starting frontend', 200],
    ['once it runs', 'is running', 0],
  ])('%s: no temporary directory and no process left', async (_when, line, afterMs) => {
    const run = await interruptAt(line, afterMs);
    expect(run.leftFiles, run.output).toEqual([]);
    expect(run.leftProcesses, run.output).toEqual([]);
    expect(run.output).toMatch(/Stopped\s*$/);
  });
});
