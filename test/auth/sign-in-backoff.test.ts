import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { signedInUser, type ApiClient, type ApiResponse } from '../helpers/http';
import { AUTH_TEST_ENV, fakeIp, fakeIpv6Net, proxiedClient, observable, signInFrom, unknownUsername, waitOut } from './clients';

/**
 * Issue 9, item 1: sign-in had no limit at all. Now each username string and each client gets a
 * few free failures, then every further try waits twice as long as the one before (NIST 800-63B
 * §5.2.2), with 429 RATE_LIMITED and Retry-After; a username that has no account is throttled
 * exactly like one that has, and a success clears the username's history.
 */

const FREE_PER_USERNAME = 3;
const FREE_PER_CLIENT = 6;
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({
    ...AUTH_TEST_ENV,
    SIGNIN_FREE_FAILURES_PER_USERNAME: String(FREE_PER_USERNAME),
    SIGNIN_FREE_FAILURES_PER_CLIENT: String(FREE_PER_CLIENT),
    SIGNIN_BACKOFF_BASE: '1s',
    SIGNIN_BACKOFF_MAX: '4s',
  });
  api = proxiedClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const retryAfter = (res: ApiResponse) => Number(res.headers.get('retry-after'));

function expectThrottled(res: ApiResponse, seconds: number) {
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterSeconds: seconds } });
  expect(retryAfter(res)).toBe(seconds);
}

describe('sign-in back-off per username', () => {
  it('an account and a username without one get the same answers, throttle included, try after try', { timeout: 60_000 }, async () => {
    const user = await signedInUser(api);
    const known = (password: string) => signInFrom(api, fakeIp(), user.username, password);
    const nobody = unknownUsername();
    const unknown = (password: string) => signInFrom(api, fakeIp(), nobody, password);
    // Both at the same moment, so their histories line up to the millisecond.
    const both = async (password: string) => {
      const [k, u] = await Promise.all([known(password), unknown(password)]);
      expect(observable(u)).toEqual(observable(k));
      return k;
    };

    for (let i = 0; i < FREE_PER_USERNAME; i++) expect((await both(`wrong ${i}`)).status).toBe(401);
    const seen: number[] = [];
    for (const [round, expected] of [1, 2, 4, 4].entries()) {
      const throttled = await both('wrong again');
      expectThrottled(throttled, expected);
      seen.push(retryAfter(throttled));
      await waitOut(throttled);
      // After two more wrong ones the account is locked (5 failures): the right password then answers like a wrong one.
      expect((await both(round < 2 ? 'wrong again' : user.password)).status).toBe(401);
    }
    expect(seen).toEqual([1, 2, 4, 4]); // doubling, capped at SIGNIN_BACKOFF_MAX
  });

  it('a success clears the username\'s back-off', { timeout: 30_000 }, async () => {
    const user = await signedInUser(api);
    for (let i = 0; i < FREE_PER_USERNAME; i++) expect((await signInFrom(api, fakeIp(), user.username, 'wrong')).status).toBe(401);
    const throttled = await signInFrom(api, fakeIp(), user.username, user.password);
    expectThrottled(throttled, 1);
    await waitOut(throttled);
    expect((await signInFrom(api, fakeIp(), user.username, user.password)).status).toBe(201);
    for (let i = 0; i < FREE_PER_USERNAME; i++) expect((await signInFrom(api, fakeIp(), user.username, 'wrong')).status).toBe(401);
    expectThrottled(await signInFrom(api, fakeIp(), user.username, 'wrong'), 1);
  });

  it('parallel tries get no more than the free ones before the wait', async () => {
    const nobody = unknownUsername();
    const results = await Promise.all(Array.from({ length: 20 }, () => signInFrom(api, fakeIp(), nobody, 'wrong')));
    expect(results.filter((r) => r.status === 401)).toHaveLength(FREE_PER_USERNAME);
    expect(results.filter((r) => r.status === 429)).toHaveLength(20 - FREE_PER_USERNAME);
  });
});

describe('sign-in back-off per client (X-Forwarded-For, TRUST_PROXY=true; IPv6 by /64)', () => {
  it('a client spraying many usernames waits longer and longer; other clients do not', { timeout: 30_000 }, async () => {
    const ip = fakeIp();
    for (let i = 0; i < FREE_PER_CLIENT; i++) expect((await signInFrom(api, ip, unknownUsername(), 'wrong')).status).toBe(401);
    const first = await signInFrom(api, ip, unknownUsername(), 'wrong');
    expectThrottled(first, 1);
    expect((await signInFrom(api, fakeIp(), unknownUsername(), 'wrong')).status).toBe(401);
    await waitOut(first);
    expect((await signInFrom(api, ip, unknownUsername(), 'wrong')).status).toBe(401);
    expectThrottled(await signInFrom(api, ip, unknownUsername(), 'wrong'), 2);

    // A right password of the client's own account does not wipe its history.
    const own = await signedInUser(api);
    expectThrottled(await signInFrom(api, ip, own.username, own.password), 2);
  });

  it('an IPv6 client is its /64: addresses of one /64 share a back-off, the neighbouring /64 does not', { timeout: 30_000 }, async () => {
    const net = fakeIpv6Net();
    const [, , third, fourth] = net.split(':').map((g) => parseInt(g, 16));
    const hex4 = (n: number) => n.toString(16).padStart(4, '0');
    // One subscriber picks the low 64 bits freely; the same /64 in other spellings (zeros, case) is the same client.
    const sameNet = [
      `${net}::1`,
      `${net}:a:b:c:d`,
      `2001:0DB8:${hex4(third!).toUpperCase()}:${hex4(fourth!).toUpperCase()}:0:0:0:2`,
      `${net}:ffff:ffff:ffff:fffe`,
      `${net}:1234::5678`,
      `${net}::dead:beef`,
    ];
    for (let i = 0; i < FREE_PER_CLIENT; i++) expect((await signInFrom(api, sameNet[i % sameNet.length]!, unknownUsername(), 'wrong')).status).toBe(401);
    expectThrottled(await signInFrom(api, `${net}::7`, unknownUsername(), 'wrong'), 1);

    // The next /64 (same /48) is another client, with its own free failures.
    const neighbour = `2001:db8:${third!.toString(16)}:${((fourth! + 1) % 0x10000).toString(16)}`;
    expect((await signInFrom(api, `${neighbour}::7`, unknownUsername(), 'wrong')).status).toBe(401);
    expect((await signInFrom(api, `${neighbour}:a:b:c:d`, unknownUsername(), 'wrong')).status).toBe(401);
  });
});
