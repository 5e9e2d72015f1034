import http from 'node:http';
import type { Worker } from '@temporalio/worker';
import type { Config } from '../config';
import { freePort } from '../dev/ports';
import { workerRegistry } from './worker-metrics';

export interface WorkerHealth {
  port: number;
  close(): Promise<void>;
}

const SDK_SCRAPE_TIMEOUT_MS = 2_000;

/** The SDK's own exporter's text (src/temporal-runtime.ts), or a comment saying why it is missing. */
async function sdkMetrics(address: string | undefined): Promise<string> {
  if (!address) return '';
  try {
    const res = await fetch(`http://${address.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}/metrics`, { signal: AbortSignal.timeout(SDK_SCRAPE_TIMEOUT_MS) });
    return res.ok ? await res.text() : `# Temporal SDK metrics unavailable: HTTP ${res.status}\n`;
  } catch (err) {
    return `# Temporal SDK metrics unavailable: ${(err as Error).message.split('\n')[0]}\n`;
  }
}

/**
 * The worker's health server: `/healthz` (the process answers), `/readyz` (200 only while the
 * worker polls its task queue: state RUNNING; 503 before, while draining and after), `/metrics`
 * (ours, then the Temporal SDK's when `sdkMetricsAddress` is where its exporter listens).
 */
export async function startWorkerHealth(opts: { port: number; host?: string; worker: Pick<Worker, 'getState'>; sdkMetricsAddress?: string }): Promise<WorkerHealth> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method not allowed' });
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      const state = opts.worker.getState();
      return json(state === 'RUNNING' ? 200 : 503, { status: state === 'RUNNING' ? 'ready' : 'not ready', worker: state });
    }
    if (path === '/metrics') {
      void Promise.all([workerRegistry.metrics(), sdkMetrics(opts.sdkMetricsAddress)]).then(
        ([ours, sdk]) => res.writeHead(200, { 'content-type': workerRegistry.contentType }).end(ours + sdk),
        () => json(500, { error: 'metrics unavailable' }),
      );
      return;
    }
    return json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Where the SDK's exporter binds: WORKER_SDK_METRICS_ADDRESS, else a free loopback port when the health server will serve it. */
export async function sdkMetricsAddressFor(config: Config): Promise<string | undefined> {
  const { sdkMetricsAddress, workerHealthPort } = config.observability;
  if (sdkMetricsAddress || workerHealthPort === undefined) return sdkMetricsAddress;
  return `127.0.0.1:${await freePort()}`;
}

/** startWorkerHealth on WORKER_HEALTH_PORT, or nothing when it is not set. */
export function startWorkerHealthFor(config: Config, worker: Pick<Worker, 'getState'>, sdkMetricsAddress?: string): Promise<WorkerHealth | undefined> {
  const port = config.observability.workerHealthPort;
  return port === undefined ? Promise.resolve(undefined) : startWorkerHealth({ port, worker, sdkMetricsAddress });
}
