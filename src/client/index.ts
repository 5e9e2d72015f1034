import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

/**
 * A typed client of the API for app teams: `openapi-fetch` over the types generated from the
 * OpenAPI document (`npm run generate:client`). Every call answers `{ data, error, response }`:
 * `data` typed by the 2xx schema, `error` by the R-ERR body (docs/errors.md).
 */

export type { paths, components };
export type Schemas = components['schemas'];
export type Change = Schemas['Change'];
export type Lock = Schemas['Lock'];
export type ApiError = Schemas['Error'];
export type EmailChangeClient = Client<paths>;

export interface ClientOptions {
  /** A session token from POST /v1/sessions; sent as `Authorization: Bearer …` on every call. */
  token?: string | (() => string | undefined);
  /** A fetch of your own (tests, retries, instrumentation). */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

export function createEmailChangeClient(baseUrl: string, options: ClientOptions = {}): EmailChangeClient {
  const client = createClient<paths>({ baseUrl, headers: options.headers, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const bearer: Middleware = {
    onRequest({ request }) {
      const token = typeof options.token === 'function' ? options.token() : options.token;
      if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
  };
  client.use(bearer);
  return client;
}
