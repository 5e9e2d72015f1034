/** The bench's HTTP client: what an app does, with the timing of each call. */
export interface HttpResult {
  status: number;
  body: any;
  ms: number;
}

export async function request(baseUrl: string, method: string, path: string, opts: { token?: string; json?: unknown } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const started = performance.now();
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  let body: unknown = text;
  if (res.headers.get('content-type')?.includes('json')) body = JSON.parse(text);
  return { status: res.status, body, ms };
}

export class HttpError extends Error {
  constructor(
    readonly step: string,
    readonly result: HttpResult,
  ) {
    super(`${step}: HTTP ${result.status} ${typeof result.body === 'string' ? result.body.slice(0, 200) : JSON.stringify(result.body).slice(0, 300)}`);
  }
}
