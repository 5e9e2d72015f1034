import { randomBytes, randomInt } from 'node:crypto';
import { call, type ApiClient, type ApiResponse, type RequestOptions } from '../helpers/http';

/**
 * Abuse-limit tests run with TRUST_PROXY=true and a made-up client address per test (every test
 * file's traffic really comes from 127.0.0.1 into one shared database).
 */
export const AUTH_TEST_ENV = { TRUST_PROXY: 'true' };

/** An address in 10.0.0.0/8 no other test uses. */
export const fakeIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

/** A /64 in 2001:db8::/32 (documentation) no other test uses, as its four leading groups: `2001:db8:1a2b:3c4d`. */
export const fakeIpv6Net = () => `2001:db8:${randomInt(0x10000).toString(16)}:${randomInt(0x10000).toString(16)}`;

/** An API client whose requests each come from a fresh made-up address unless they name one. */
export function proxiedClient(baseUrl: string): ApiClient {
  const send = <T = any>(method: string, path: string, opts: RequestOptions = {}) =>
    call<T>(baseUrl, method, path, { ...opts, headers: { 'x-forwarded-for': fakeIp(), ...opts.headers } });
  return {
    get: (path, opts) => send('GET', path, opts),
    post: (path, opts) => send('POST', path, opts),
    delete: (path, opts) => send('DELETE', path, opts),
    request: (method, path, opts) => send(method, path, opts),
  };
}

/** A username no account has. */
export const unknownUsername = () => `nobody_${randomBytes(6).toString('hex')}`;

export const signInFrom = (api: ApiClient, ip: string, username: string, password: string) =>
  api.post('/v1/sessions', { json: { username, password }, headers: { 'x-forwarded-for': ip } });

/** What a client sees of an answer, apart from the request id and the clock. */
export const observable = (res: ApiResponse) => ({
  status: res.status,
  body: res.body,
  retryAfter: res.headers.get('retry-after'),
});

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits out a 429's Retry-After. */
export const waitOut = (res: ApiResponse) => sleep(Number(res.headers.get('retry-after')) * 1000 + 100);
