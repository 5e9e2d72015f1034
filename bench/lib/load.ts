import path from 'node:path';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { summarize, type LatencySummary } from './stats';

export interface EndpointLatency extends LatencySummary {
  name: string;
  method: string;
  path: string;
  tool: 'open loop' | 'bench loop';
  ratePerSec: number;
  seconds: number;
  /** Answers other than the expected status (and transport errors). */
  errors: number;
  /** The load generator's own event-loop delay while it ran (a send it held back counts in the latency). */
  client?: { eventLoopDelayMaxMs: number; eventLoopDelayP99Ms: number };
  /** The same rate through autocannon (bursts of its connections at the start of each second), for comparison. */
  autocannon?: { p50: number; p99: number; requestsPerSec: number };
  note?: string;
}

/**
 * GETs at a fixed rate: request i is due at i / rate (evenly spaced, an open loop over keep-alive
 * connections) and timed from when it was due, so a request the client could not send on time
 * counts against the service, never for it. `token(i)` picks the bearer token of request i (users
 * round-robin, e.g. to stay inside the availability endpoint's per-user rate limit).
 *
 * With `autocannonCheck` the same rate is also run through autocannon, for comparison: its
 * `overallRate` gives each of its connections a budget per second, which each connection spends
 * back to back at the start of the second, so it measures bursts of `connections` concurrent
 * requests rather than a steady rate (the bench's tool before stop 14).
 */
export async function fixedRateGet(opts: {
  name: string;
  baseUrl: string;
  path: (i: number) => string;
  pathLabel: string;
  token: (i: number) => string;
  rate: number;
  seconds: number;
  connections?: number;
  expectStatus?: number;
  note?: string;
  autocannonCheck?: boolean;
}): Promise<EndpointLatency> {
  const { samples, errors, clientDelayMaxMs, clientDelayP99Ms } = await evenlySpacedGets(opts);
  return {
    name: opts.name,
    method: 'GET',
    path: opts.pathLabel,
    tool: 'open loop',
    ratePerSec: opts.rate,
    seconds: opts.seconds,
    ...summarize(samples),
    errors,
    client: { eventLoopDelayMaxMs: Math.round(clientDelayMaxMs * 10) / 10, eventLoopDelayP99Ms: Math.round(clientDelayP99Ms * 10) / 10 },
    ...(opts.autocannonCheck ? { autocannon: await autocannonGets(opts) } : {}),
    ...(opts.note ? { note: opts.note } : {}),
  };
}

/** The open loop, in a worker thread of its own (bench/lib/fixed-rate-thread.mjs). */
async function evenlySpacedGets(opts: Parameters<typeof fixedRateGet>[0]): Promise<{ samples: number[]; errors: number; clientDelayMaxMs: number; clientDelayP99Ms: number }> {
  const total = Math.round(opts.rate * opts.seconds);
  const workerData = {
    baseUrl: opts.baseUrl,
    paths: Array.from({ length: total }, (_, i) => opts.path(i)),
    tokens: Array.from({ length: total }, (_, i) => opts.token(i)),
    rate: opts.rate,
    connections: opts.connections ?? 64,
    expectStatus: opts.expectStatus ?? 200,
  };
  const thread = new Worker(path.join(__dirname, 'fixed-rate-thread.mjs'), { workerData });
  return new Promise((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`fixed-rate thread exited (${code}) without a result`)));
  });
}

/** The same requests through autocannon, summarised from its raw response times as the bench reported them before stop 14. */
async function autocannonGets(opts: Parameters<typeof fixedRateGet>[0]): Promise<NonNullable<EndpointLatency['autocannon']>> {
  const samples: number[] = [];
  let n = 0;
  // autocannon's instance is both an EventEmitter and a promise of the result.
  const instance = autocannon({
    url: opts.baseUrl,
    connections: Math.max(1, Math.min(opts.connections ?? 10, opts.rate)),
    overallRate: opts.rate,
    duration: opts.seconds,
    timeout: 30,
    requests: [
      {
        method: 'GET',
        setupRequest: (req: any) => {
          const i = n++;
          return { ...req, path: opts.path(i), headers: { ...req.headers, authorization: `Bearer ${opts.token(i)}` } };
        },
      },
    ],
  }) as Promise<autocannon.Result> & { on(event: string, listener: (...args: any[]) => void): void };
  instance.on('response', (_client: unknown, _statusCode: number, _bytes: number, responseTime: number) => samples.push(responseTime));
  const result = await instance;
  const { p50, p99 } = summarize(samples);
  return { p50, p99, requestsPerSec: result.requests.average };
}
