import autocannon from 'autocannon';
import { summarize, type LatencySummary } from './stats';

export interface EndpointLatency extends LatencySummary {
  name: string;
  method: string;
  path: string;
  tool: 'autocannon' | 'bench loop';
  ratePerSec: number;
  seconds: number;
  /** Answers other than the expected status (and transport errors). */
  errors: number;
  /** autocannon's own figures (HDR histogram), as a cross-check. */
  autocannon?: { p50: number; p97_5: number; p99: number; requestsPerSec: number };
  note?: string;
}

/**
 * A fixed request rate with autocannon (`overallRate` over `connections` keep-alive connections,
 * latency per response). `authFor(i)` picks the bearer token of request i (users round-robin,
 * e.g. to stay inside the availability endpoint's per-user rate limit).
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
}): Promise<EndpointLatency> {
  const samples: number[] = [];
  let errors = 0;
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
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    samples.push(responseTime);
    if (statusCode !== (opts.expectStatus ?? 200)) errors++;
  });
  instance.on('reqError', () => errors++);
  const result = await instance;
  return {
    name: opts.name,
    method: 'GET',
    path: opts.pathLabel,
    tool: 'autocannon',
    ratePerSec: opts.rate,
    seconds: opts.seconds,
    ...summarize(samples),
    errors: errors + result.timeouts,
    autocannon: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, requestsPerSec: result.requests.average },
    ...(opts.note ? { note: opts.note } : {}),
  };
}
