import { spawn, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { probeStats, RESOLUTION_MS, type ProbeStats } from './eld';
import { cpuMs, rssBytes } from './proc';

export const PROJECT_ROOT = path.resolve(__dirname, '../..');
const PROBE = path.join(PROJECT_ROOT, 'bench/child/probe.ts');

/** One measured process of the stack: the API, the worker or the bare (engine-bound) worker. */
export interface Service {
  name: string;
  pid: number;
  /** True when it shares the bench's own process (smoke test): its CPU and RSS are the bench's. */
  inProcess: boolean;
  stats(): Promise<ProbeStats | undefined>;
  resetEventLoopDelay(): Promise<void>;
  cpuMs(): number | undefined;
  rssBytes(): number | undefined;
  stop(): Promise<void>;
}

type Message = { type: string; id?: number; [key: string]: unknown };

/**
 * A production entry point (src/api/server.ts, src/worker.ts, bench/child/bare-worker.ts) run as
 * `node --import tsx [--import bench/child/probe.ts] <entry>` with `env`; stdout goes to /dev/null
 * (its JSON logs are still written, as in production), the tail of stderr is kept for errors.
 */
export class ChildService implements Service {
  readonly inProcess = false;
  private nextId = 1;
  private readonly pending = new Map<number, (msg: Message) => void>();
  private stderr = '';
  private readonly exited: Promise<number | null>;
  readonly messages: ((msg: Message) => void)[] = [];

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    child.on('message', (msg: Message) => {
      const waiter = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (waiter) {
        this.pending.delete(msg.id!);
        waiter(msg);
      }
      for (const listener of this.messages) listener(msg);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /**
   * `probe`: preload bench/child/probe.ts (event-loop delay and memory over IPC). Not for the
   * Temporal workers: their workflow threads inherit the preloads and cannot load a .ts file.
   */
  static spawn(name: string, entry: string, env: Record<string, string>, opts: { probe: boolean }): ChildService {
    const preload = opts.probe ? ['--import', PROBE] : [];
    // BENCH_CPU_PROF_DIR: a V8 CPU profile per process and thread, written when it stops (where the CPU goes).
    const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.join(process.env.BENCH_CPU_PROF_DIR, name)}`] : [];
    const child = spawn(process.execPath, [...profile, '--import', 'tsx', ...preload, path.join(PROJECT_ROOT, entry)], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    return new ChildService(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  lastErrors(): string {
    return this.stderr.trim();
  }

  /** Rejects when the process exits first (with its stderr), so a start-up failure is not a time-out. */
  async untilReady(ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive) throw new Error(`${this.name} exited during start-up: ${this.lastErrors()}`);
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms: ${this.lastErrors()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private request(type: string, timeoutMs = 5_000): Promise<Message | undefined> {
    if (!this.alive || !this.child.connected) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      this.child.send({ type, id });
    });
  }

  async stats(): Promise<ProbeStats | undefined> {
    return (await this.request('probe-stats'))?.stats as ProbeStats | undefined;
  }

  async resetEventLoopDelay(): Promise<void> {
    await this.request('probe-reset');
  }

  cpuMs(): number | undefined {
    return cpuMs(this.pid);
  }

  rssBytes(): number | undefined {
    return rssBytes(this.pid);
  }

  /** SIGTERM (the entry points shut down gracefully), SIGKILL after 40 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const force = setTimeout(() => this.child.kill('SIGKILL'), 40_000);
    this.child.kill('SIGTERM');
    await this.exited;
    clearTimeout(force);
  }
}

/** The same interface for a service running inside the bench process (the smoke test). */
export class InProcessService implements Service {
  readonly inProcess = true;
  readonly pid = process.pid;
  private readonly eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });

  constructor(
    readonly name: string,
    private readonly stopFn: () => Promise<void>,
  ) {
    this.eld.enable();
  }

  async stats(): Promise<ProbeStats> {
    return probeStats(this.eld);
  }

  async resetEventLoopDelay(): Promise<void> {
    this.eld.reset();
  }

  cpuMs(): number | undefined {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  }

  rssBytes(): number | undefined {
    return process.memoryUsage().rss;
  }

  async stop(): Promise<void> {
    this.eld.disable();
    await this.stopFn();
  }
}
