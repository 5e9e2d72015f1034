import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { LOCK_FILE } from '../../src/dev/stack-guard';
import { apiClient } from '../helpers/http';
import { ROOT, cloneInto, processesMentioning, spawnNpmStart, startEmbedded, stop, waitUntilGone, type NpmStart } from './npm-start-process';

/** True while something accepts connections on host:port. */
const listening = (port: number, host = '127.0.0.1') =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits up to `timeoutMs` for `done()`; returns its last answer. */
async function eventually(done: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

/** Ctrl-C in the terminal: SIGINT to npm's whole process group (npm, sh, node). */
async function ctrlC(started: NpmStart): Promise<void> {
  if (started.child.exitCode === null && started.child.signalCode === null) process.kill(-started.child.pid!, 'SIGINT');
  await started.exited;
}

/**
 * Issue #11: `npm start` works from any directory, as root too; whatever fails (or is SIGKILLed)
 * during or after start-up leaves no Temporal or PostgreSQL running; one start per DATA_DIR; every
 * failure says its cause in one line.
 */

const isRoot = process.getuid?.() === 0;
const running: NpmStart[] = [];
afterAll(async () => {
  for (const started of running) {
    if (started.child.spawnargs[0] === 'npm') await ctrlC(started);
    else await stop(started.child);
  }
});

const freshDataDir = (name: string) => {
  const dir = fs.mkdtempSync(path.join(inject('tempDir'), `${name}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
};

async function portsEnv(dataDir: string): Promise<Record<string, string>> {
  return { DATA_DIR: dataDir, PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
}

/** What stderr said, as lines. */
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('npm start cannot strand anything', () => {
  it('runs from a clone under a private (0700) directory, as root too, and answers /readyz', { timeout: 180_000 }, async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'email-change-private-'));
    fs.chmodSync(parent, 0o700);
    const clone = cloneInto(parent);
    const port = await freePort();
    try {
      const started = await startEmbedded({ PORT: String(port), TEMPORAL_UI_PORT: String(await freePort()) }, clone);
      running.push(started);
      expect((await apiClient(`http://127.0.0.1:${port}`).get('/readyz')).status).toBe(200);
      const dataLink = path.join(clone, '.data', 'postgres');
      // As root the server runs as `postgres`, which cannot enter `parent`: its data lives in the shared cache, linked from DATA_DIR.
      if (isRoot) expect(fs.readlinkSync(dataLink)).toMatch(/email-change-service\/data-/);
      const where = isRoot ? fs.readlinkSync(dataLink) : dataLink;
      expect(processesMentioning(where)).toHaveLength(1);
      expect(await stop(started.child)).toBe(0);
      expect(await waitUntilGone(where, 5_000)).toEqual([]);
      expect(processesMentioning(clone)).toEqual([]);
      if (isRoot) fs.rmSync(where, { recursive: true, force: true });
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });

  it('a failure while Temporal is starting (the PostgreSQL data directory is a file) stops Temporal and says why in one line', { timeout: 120_000 }, async () => {
    const dataDir = freshDataDir('pg-fails');
    fs.writeFileSync(path.join(dataDir, 'postgres'), 'not a directory');
    const run = spawnNpmStart(await portsEnv(dataDir));
    expect(await run.exited).toBe(1);
    expect(lines(run.stderr()), run.output()).toEqual([expect.stringMatching(/^start-up failed: PostgreSQL's data directory .*postgres is a file; move it away$/)]);
    expect(processesMentioning(dataDir)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  });

  it('a failure after Temporal is up (the database is unreachable) stops Temporal and says why in one line', { timeout: 120_000 }, async () => {
    const dataDir = freshDataDir('db-fails');
    const closedPort = await freePort();
    const run = spawnNpmStart({ ...(await portsEnv(dataDir)), DATABASE_URL: `postgresql://nobody:secret@127.0.0.1:${closedPort}/nothing` });
    expect(await run.exited).toBe(1);
    expect(lines(run.stderr()), run.output()).toEqual([expect.stringMatching(new RegExp(`^start-up failed: .*ECONNREFUSED 127\\.0\\.0\\.1:${closedPort}`))]);
    expect(processesMentioning(dataDir)).toEqual([]);
  });

  it('Ctrl-C while the servers are still starting stops them all', { timeout: 120_000 }, async () => {
    const dataDir = freshDataDir('ctrl-c');
    const run = spawnNpmStart(await portsEnv(dataDir));
    const deadline = Date.now() + 60_000;
    while (!processesMentioning(dataDir).some((p) => p.includes('start-dev')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(run.stdout()).not.toContain('is running');
    run.child.kill('SIGINT');
    expect(await run.exited, run.output()).toBe(0);
    expect(await waitUntilGone(dataDir, 10_000)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  });

  it('a busy TEMPORAL_UI_PORT or PORT is refused in one line naming the variable, before anything starts', { timeout: 60_000 }, async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as net.AddressInfo).port;
    try {
      for (const variable of ['TEMPORAL_UI_PORT', 'PORT']) {
        const dataDir = freshDataDir('busy-port');
        const began = Date.now();
        const run = spawnNpmStart({ ...(await portsEnv(dataDir)), [variable]: String(busyPort) });
        expect(await run.exited).toBe(1);
        expect(Date.now() - began).toBeLessThan(10_000);
        expect(lines(run.stderr())).toEqual([`start-up failed: port ${busyPort} is already in use; set ${variable} to a free port`]);
        expect(processesMentioning(dataDir)).toEqual([]);
      }
    } finally {
      busy.close();
    }
  });

  it('kill -9 of the real `npm start` (npm → sh → node): node notices, and Temporal, PostgreSQL and the API are gone within seconds; the next start works (HOST widens where it listens)', { timeout: 240_000 }, async () => {
    const dataDir = freshDataDir('npm-sigkill');
    const env = await portsEnv(dataDir);
    const first = await startEmbedded(env, ROOT, { throughNpm: true });
    running.push(first);
    const owner = JSON.parse(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(owner.pid, 'node runs below npm, not as npm').not.toBe(first.child.pid);
    const temporalPort = Number(/Temporal {7}127\.0\.0\.1:(\d+)/.exec(first.stdout())![1]);
    const postgresPort = Number(/PostgreSQL {5}embedded \(127\.0\.0\.1:(\d+)\)/.exec(first.stdout())![1]);
    const ports = [Number(env.PORT), Number(env.TEMPORAL_UI_PORT), temporalPort, postgresPort];
    for (const port of ports) expect(await listening(port), `port ${port} before`).toBe(true);
    // Without HOST the API is on 127.0.0.1 only: another loopback address (or the network) reaches nothing.
    expect(await listening(Number(env.PORT), '127.0.0.2')).toBe(false);

    process.kill(first.child.pid!, 'SIGKILL'); // npm only: sh and node live on, reparented
    await first.exited;
    const began = Date.now();
    expect(await eventually(() => !alive(owner.pid), 20_000), `node (pid ${owner.pid}) still running:\n${first.output()}`).toBe(true);
    expect(await waitUntilGone(dataDir, 5_000)).toEqual([]);
    for (const port of ports) expect(await listening(port), `port ${port} after`).toBe(false);
    expect(Date.now() - began).toBeLessThan(20_000);
    expect(first.stderr()).toContain(`stopping: the process that launched this one (pid `);
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);

    const next = await startEmbedded({ ...env, HOST: '0.0.0.0' }, ROOT, { throughNpm: true });
    running.push(next);
    expect(next.stderr()).toBe('');
    expect((await apiClient(`http://127.0.0.1:${env.PORT}`).get('/readyz')).status).toBe(200);
    // HOST=0.0.0.0: every address of the machine.
    expect((await apiClient(`http://127.0.0.2:${env.PORT}`).get('/readyz')).status).toBe(200);
    await ctrlC(next);
    expect(await waitUntilGone(dataDir, 10_000)).toEqual([]);
  });

  it('refuses a second start on a DATA_DIR in use; after a SIGKILL the servers go with it and the next start works', { timeout: 240_000 }, async () => {
    const dataDir = freshDataDir('sigkill');
    const env = await portsEnv(dataDir);
    const first = await startEmbedded(env);
    running.push(first);

    const second = spawnNpmStart({ ...env, PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) });
    expect(await second.exited).toBe(1);
    expect(lines(second.stderr())).toEqual([
      `start-up failed: DATA_DIR ${dataDir} is in use by another npm start (pid ${first.child.pid}); stop it, or set DATA_DIR to another directory`,
    ]);

    // The watchdog takes Temporal and PostgreSQL down with the SIGKILLed process.
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await waitUntilGone(dataDir, 15_000)).toEqual([]);

    const third = await startEmbedded(env);
    running.push(third);
    expect((await apiClient(`http://127.0.0.1:${env.PORT}`).get('/readyz')).status).toBe(200);

    // With its watchdog gone too (SIGKILLed as a group, say), the next start stops what was left, by the lock file.
    const watchdog = execFileSync('ps', ['-eo', 'pid,ppid,args'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find(([, ppid, cmd]) => ppid === String(third.child.pid) && cmd === '/bin/sh');
    expect(watchdog).toBeDefined();
    process.kill(Number(watchdog![0]), 'SIGKILL');
    third.child.kill('SIGKILL');
    await third.exited;
    expect(processesMentioning(dataDir).length).toBeGreaterThan(0);

    const fourth = await startEmbedded(env);
    running.push(fourth);
    expect(fourth.stderr()).toMatch(/^stopping temporal \(pid \d+\), postgres \(pid \d+\), left running by an npm start that ended without stopping them\n$/);
    expect((await apiClient(`http://127.0.0.1:${env.PORT}`).get('/readyz')).status).toBe(200);
    expect(processesMentioning(dataDir)).toHaveLength(2);
    expect(await stop(fourth.child)).toBe(0);
    expect(await waitUntilGone(dataDir, 5_000)).toEqual([]);
  });
});
