/**
 * Every test's answers are checked against the OpenAPI document (test/helpers/openapi-check.ts):
 * an undocumented status, a body that does not match, or an answer from an API or link-page path
 * or method the document does not describe fails the test. OPENAPI_CHECK=off turns it off;
 * `contract: false` on one call skips it (a test that calls an unknown route on purpose).
 */
async function contractChecked(): Promise<boolean> {
  // Outside vitest (scripts/record-histories.ts drives the API with these helpers too) nothing is checked.
  return process.env.OPENAPI_CHECK !== 'off' && Boolean(process.env.VITEST);
}

/** How many answers this process checked against the document (a test asserts the check ran). */
export const contractStats = { checked: 0 };

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  json?: unknown;
  /** Sent as-is (e.g. broken JSON); wins over `json`. */
  raw?: string | Buffer;
  token?: string;
  headers?: Record<string, string>;
  /** false: do not check this answer against the OpenAPI document. */
  contract?: boolean;
}

/** One HTTP request against the API, as a client app would make it. */
export async function call<T = any>(baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | Buffer | undefined;
  if (opts.raw !== undefined || opts.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = opts.raw ?? JSON.stringify(opts.json);
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body, redirect: 'manual' });
  const text = await res.text();
  let parsed: unknown = text;
  // A HEAD answer has a JSON type and no body.
  if (text !== '' && res.headers.get('content-type')?.includes('json')) parsed = JSON.parse(text);
  const answer = { status: res.status, headers: res.headers, body: parsed as T, text };
  if (opts.contract !== false) await checkAgainstContract(method, path, answer);
  return answer;
}

/** Fails when an answer got some other way (a page fetched as a browser does) is outside the OpenAPI document. */
export async function checkAgainstContract(method: string, path: string, answer: ApiResponse): Promise<void> {
  if (!(await contractChecked())) return;
  const { openApiProblems } = await import('./openapi-check');
  const problems = openApiProblems(method, path, answer);
  contractStats.checked++;
  if (problems.length) throw new Error(`answer outside the OpenAPI document: ${problems.join('; ')}\n${answer.text.slice(0, 500)}`);
}

/** A client bound to one API base URL. */
export function apiClient(baseUrl: string) {
  return {
    get: <T = any>(path: string, opts?: RequestOptions) => call<T>(baseUrl, 'GET', path, opts),
    post: <T = any>(path: string, opts?: RequestOptions) => call<T>(baseUrl, 'POST', path, opts),
    delete: <T = any>(path: string, opts?: RequestOptions) => call<T>(baseUrl, 'DELETE', path, opts),
    request: <T = any>(method: string, path: string, opts?: RequestOptions) => call<T>(baseUrl, method, path, opts),
  };
}
export type ApiClient = ReturnType<typeof apiClient>;

export interface TestUser {
  id: string;
  username: string;
  password: string;
  token: string;
}

let counter = 0;

/** Signs up and signs in a fresh user with a unique name. */
export async function signedInUser(api: ApiClient, opts: { email?: string } = {}): Promise<TestUser> {
  const username = `user_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const password = 'correct horse battery staple';
  const created = await api.post('/v1/users', { json: { username, password, ...(opts.email ? { email: opts.email } : {}) } });
  if (created.status !== 201) throw new Error(`sign-up failed: ${created.status} ${created.text}`);
  const session = await api.post('/v1/sessions', { json: { username, password } });
  if (session.status !== 201) throw new Error(`sign-in failed: ${session.status} ${session.text}`);
  return { id: created.body.id, username, password, token: session.body.token };
}

/** An address no other test uses. */
export const uniqueEmail = (tag = 'user') => `${tag}.${Date.now().toString(36)}.${counter++}.${process.pid}@example.com`;
