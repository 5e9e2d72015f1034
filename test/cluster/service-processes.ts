import { spawn } from 'node:child_process';
import path from 'node:path';
import { inject } from 'vitest';
import { freePort } from '../../src/dev/ports';

const PROJECT_ROOT = path.resolve(__dirname, '../..');
const WORKER_ENTRY = path.join(PROJECT_ROOT, 'src/worker.ts');

export interface ServiceWorker {
  pid: number;
  /** Its health server (/readyz, /metrics). */
  healthUrl: string;
  /** Resolves once /readyz says the worker polls its task queue. */
  ready: Promise<void>;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<string>;
  output(): string;
  /** SIGKILL: no shutdown, activities in flight are lost mid-way. */
  kill(): Promise<string>;
  /** SIGTERM: the worker drains and exits. */
  stop(): Promise<string>;
}

/**
 * The worker exactly as `npm run worker` runs it (src/worker.ts: migrations, envconfig connection incl.
 * TLS, runtime, health server), as `node --import tsx` in a child process of its own, with the test
 * run's prebuilt workflow bundle (WORKFLOW_BUNDLE). `env` is a service environment (serviceEnv).
 */
export async function spawnServiceWorker(env: Record<string, string>): Promise<ServiceWorker> {
  const healthPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_ENTRY], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env, WORKFLOW_BUNDLE: inject('workflowBundlePath'), WORKER_HEALTH_PORT: String(healthPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const ready = (async () => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker exited before it was ready:\n${output}`);
      const polling = await fetch(`${healthUrl}/readyz`).then((r) => r.status === 200, () => false);
      if (polling) return;
      if (Date.now() > deadline) throw new Error(`worker not polling after 90 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  ready.catch(() => undefined);
  const signal = (how: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(how);
    return exited;
  };
  return { pid: child.pid!, healthUrl, ready, exited, output: () => output, kill: () => signal('SIGKILL'), stop: () => signal('SIGTERM') };
}

/** The value of one counter (summed over its label sets that match `labels`) in a Prometheus text page. */
export function counterValue(page: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
