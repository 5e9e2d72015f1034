import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/dev/ports';

const PROJECT_ROOT = path.resolve(__dirname, '../..');
const API_ENTRY = path.join(PROJECT_ROOT, 'src/api/server.ts');

export interface ChildApi {
  pid: number;
  baseUrl: string;
  /** Resolves once GET /healthz answers. */
  ready: Promise<void>;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<string>;
  output(): string;
  /** SIGKILL: no shutdown, no finally blocks, requests in flight are lost mid-way. */
  kill(): Promise<string>;
}

/**
 * The API exactly as `npm run api` runs it (src/api/server.ts as `node --import tsx`), in a child
 * process of its own on a free port, so a test can SIGKILL it with a request in flight — the
 * counterpart of spawnWorker in test/helpers/services.ts. `env` is a stack's service environment.
 */
export async function spawnApi(env: Record<string, string>): Promise<ChildApi> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', API_ENTRY], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  const baseUrl = `http://127.0.0.1:${port}`;
  const ready = (async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`API exited before it was ready:\n${output}`);
      const up = await fetch(`${baseUrl}/healthz`).then((r) => r.ok, () => false);
      if (up) return;
      if (Date.now() > deadline) throw new Error(`API not ready after 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  ready.catch(() => undefined);
  return {
    pid: child.pid!,
    baseUrl,
    ready,
    exited,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exited;
    },
  };
}
