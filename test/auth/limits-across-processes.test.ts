import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { mapLimit, serviceEnv, startApi, type FaultApi } from '../helpers/services';
import { signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { AUTH_TEST_ENV, fakeIp, proxiedClient, signInFrom, unknownUsername } from './clients';

/**
 * Issue 9, item 7: the availability limit lived in one process's memory (koa-ratelimit with a
 * Map), so N API processes allowed N times the limit. Every limit now lives in PostgreSQL: two
 * API processes on one database share each allowance.
 */

const apis: FaultApi[] = [];
let a: ApiClient;
let b: ApiClient;
beforeAll(async () => {
  const env = {
    ...AUTH_TEST_ENV,
    LIMIT_SIGNUP_PER_CLIENT: '4/1h',
    LIMIT_AVAILABILITY_PER_USER: '4/1m',
    SIGNIN_FREE_FAILURES_PER_USERNAME: '2',
    SIGNIN_BACKOFF_BASE: '1m',
  };
  // No worker and no mail: nothing here starts a workflow or sends mail.
  const base = serviceEnv({ smtpUrl: 'smtp://127.0.0.1:9', port: 0 });
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    apis.push(await startApi({ ...base, ...env, PORT: String(port), PUBLIC_BASE_URL: `http://127.0.0.1:${port}` }));
  }
  [a, b] = apis.map((api) => proxiedClient(api.baseUrl)) as [ApiClient, ApiClient];
});
afterAll(async () => {
  await Promise.all(apis.map((api) => api.stop()));
});

describe('limits held in PostgreSQL hold across API processes', () => {
  it('sign-up per client', async () => {
    const ip = fakeIp();
    const signUp = (api: ApiClient, i: number) =>
      api.post('/v1/users', { json: { username: `xproc_${Date.now().toString(36)}_${i}`, password: 'long enough password' }, headers: { 'x-forwarded-for': ip } });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await signUp(i % 2 ? b : a, i)).status);
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
  });

  it('availability per user', async () => {
    const user = await signedInUser(a);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await (i % 2 ? b : a).get(`/v1/email/availability?email=${encodeURIComponent(uniqueEmail('xproc'))}`, { token: user.token })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('sign-in back-off per username', async () => {
    const nobody = unknownUsername();
    expect((await signInFrom(a, fakeIp(), nobody, 'wrong')).status).toBe(401);
    expect((await signInFrom(b, fakeIp(), nobody, 'wrong')).status).toBe(401);
    const throttled = [await signInFrom(a, fakeIp(), nobody, 'wrong'), await signInFrom(b, fakeIp(), nobody, 'wrong')];
    expect(throttled.map((r) => r.status)).toEqual([429, 429]);
    expect(Number(throttled[1]!.headers.get('retry-after'))).toBeGreaterThan(50);
  });

  it('right passwords from one client, several at a time on both processes, are never throttled', async () => {
    const names = await mapLimit(Array.from({ length: 24 }), 4, async (_, i) => {
      const username = `xproc_ok_${Date.now().toString(36)}_${i}`;
      expect((await a.post('/v1/users', { json: { username, password: 'long enough password' } })).status).toBe(201);
      return username;
    });
    const ip = fakeIp();
    const statuses = await mapLimit(names, 4, async (username, i) => (await signInFrom(i % 2 ? b : a, ip, username, 'long enough password')).status);
    expect(statuses.every((s) => s === 201)).toBe(true);
  });
});
