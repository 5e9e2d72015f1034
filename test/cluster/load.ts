import { call, type ApiResponse, type RequestOptions } from '../helpers/http';

/**
 * The load generator's HTTP side: requests spread over a list of API base URLs (as a load balancer
 * would), every answer's status recorded. A 5xx is retried (a client's safe retry: the calls it is
 * used for are idempotent or carry an Idempotency-Key) and recorded, so the test can say which 5xx
 * the failover caused.
 */
export class SpreadClient {
  /** Answers by status, over all base URLs. */
  readonly statuses = new Map<number, number>();
  /** Requests per base URL. */
  readonly perBaseUrl = new Map<string, number>();
  /** Every 5xx other than 503 (method, path, status, body), which the failover must not cause. */
  readonly unexpected5xx: string[] = [];
  private next = 0;

  constructor(readonly baseUrls: string[]) {}

  /** The next base URL in turn (round robin). */
  pick(): string {
    return this.baseUrls[this.next++ % this.baseUrls.length]!;
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}, baseUrl = this.pick()): Promise<ApiResponse<T>> {
    const res = await call<T>(baseUrl, method, path, { ...opts, contract: false });
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1);
    this.perBaseUrl.set(baseUrl, (this.perBaseUrl.get(baseUrl) ?? 0) + 1);
    if (res.status >= 500 && res.status !== 503) this.unexpected5xx.push(`${method} ${path} → ${res.status} ${res.text.slice(0, 300)}`);
    return res;
  }

  /** The request again (each try on the next base URL) while it answers 5xx, or 409 IDEMPOTENCY_IN_PROGRESS; at most `timeoutMs`. */
  async retrying<T = any>(method: string, path: string, opts: RequestOptions = {}, timeoutMs = 180_000): Promise<ApiResponse<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.request<T>(method, path, opts);
      const busy = res.status === 409 && (res.body as { error?: { code?: string } })?.error?.code === 'IDEMPOTENCY_IN_PROGRESS';
      if (res.status < 500 && !busy) return res;
      if (Date.now() > deadline) throw new Error(`${method} ${path}: still ${res.status} after ${timeoutMs} ms: ${res.text.slice(0, 300)}`);
      const retryAfter = Number(res.headers.get('retry-after'));
      await new Promise((r) => setTimeout(r, Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 2) * 1000 : 500));
    }
  }

  /** Polls GET `path` until `predicate` holds for a 200 answer. */
  async until(path: string, token: string, predicate: (body: any) => boolean, timeoutMs = 180_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.retrying('GET', path, { token }, timeoutMs);
      if (res.status === 200 && predicate(res.body)) return res.body;
      if (Date.now() > deadline) throw new Error(`GET ${path} never matched within ${timeoutMs} ms; last: ${res.status} ${res.text.slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  summary(): string {
    const statuses = [...this.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(', ');
    const spread = [...this.perBaseUrl.values()].join(' / ');
    return `answers ${statuses}; per API ${spread}`;
  }
}

export const percentile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil(values.length * q) - 1)]!;

/** flows/s, p50, p99 and max of one phase, as one line. */
export function figures(label: string, latenciesMs: number[], seconds: number): string {
  return `${label}: ${latenciesMs.length} flows in ${seconds.toFixed(1)} s = ${(latenciesMs.length / seconds).toFixed(2)} flows/s; p50 ${percentile(latenciesMs, 0.5)} ms, p99 ${percentile(latenciesMs, 0.99)} ms, max ${Math.max(...latenciesMs)} ms`;
}
