import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import { migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/log';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';
import { mapLimit } from '../helpers/services';
import {
  anyValue,
  badAuthorization,
  fieldsBody,
  formRequests,
  isValidSignUp,
  isValidStart,
  jsonRequests,
  nastyString,
  queryStrings,
  requestIds,
  tokensNear,
  type FuzzRequest,
} from '../helpers/faults-fuzz';

/**
 * Issue 6, case 8: property-based fuzzing (fast-check) of every JSON endpoint and the link pages,
 * RUNS generated requests each (1,000 by default; FUZZ_RUNS and FUZZ_SEED to change or replay):
 * wrong types, missing and extra fields, huge strings, unicode, CRLF, NUL, bad JSON, other content
 * types, oversized bodies (413), hostile tokens, query strings and headers. Every answer is below
 * 500 and in the R-ERR shape, the process stays up, and nothing is written: the fuzzed user's rows,
 * pending change, workflow state and mail are the same before and after each endpoint's run.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 1_000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

let stack: TestStack;
let api: ApiClient;
let target: TestUser; // has a pending change; every fuzzed request aims at it
let targetEmail: string;
let realToken: string;
let bystander: TestUser; // signed in, nothing pending
let checkers: TestUser[]; // availability is rate-limited per user: 30 a minute
const startedAt = new Date();

let databaseUrl: string;

/** A database of this file's own, so "no user was created" is not disturbed by test files running beside it. */
async function createOwnDatabase(): Promise<string> {
  const shared = inject('databaseUrl');
  const name = `fuzz_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: shared });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(shared);
  url.pathname = `/${name}`;
  await migrate(url.toString(), createLogger('silent'));
  return url.toString();
}

beforeAll(async () => {
  databaseUrl = await createOwnDatabase();
  stack = await startStack({ RESEND_COOLDOWN: '1h', DATABASE_URL: databaseUrl });
  api = apiClient(stack.baseUrl);
  target = await signedInUser(api);
  targetEmail = uniqueEmail('fuzz');
  await startChange(api, target, targetEmail);
  realToken = await tokenFromMail(stack.smtp, targetEmail);
  // The snapshots compare delivery too: let the send be recorded first.
  await waitForStatus(api, target, (b) => b.change?.delivery?.new?.status === 'sent');
  bystander = await signedInUser(api);
  checkers = await mapLimit(Array.from({ length: Math.ceil(RUNS / 25) + 2 }), 4, () => signedInUser(api));
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  if (!databaseUrl) return;
  const admin = new pg.Client({ connectionString: inject('databaseUrl') });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${new URL(databaseUrl).pathname.slice(1)} WITH (FORCE)`).catch(() => undefined);
  await admin.end();
});

/** Everything a fuzzed request could have written for the target user, plus the live workflow's view. */
async function snapshot() {
  const { rows } = await stack.pool.query(
    `SELECT u.email, u.email_verified, u.auth_failures, u.auth_window_start, u.locked_until, u.current_change_id, u.updated_at, u.password_hash,
       (SELECT count(*)::int FROM sessions WHERE user_id = u.id) AS sessions,
       (SELECT count(*)::int FROM email_history WHERE user_id = u.id) AS history,
       (SELECT json_agg(json_build_object('id', id, 'state', state, 'new', new_confirmed_at, 'resends', resends, 'updated', updated_at) ORDER BY created_at)
          FROM email_change_requests WHERE user_id = u.id) AS changes,
       (SELECT json_agg(json_build_object('key', m.message_key, 'status', m.status, 'attempts', m.attempts) ORDER BY m.created_at)
          FROM mail_messages m JOIN email_change_requests r ON r.id = m.change_id WHERE r.user_id = u.id) AS mails,
       (SELECT count(*)::int FROM users WHERE created_at >= $2) AS users_created
     FROM users u WHERE u.id = $1`,
    [target.id, startedAt],
  );
  const status = (await api.get('/v1/email/change', { token: target.token })).body;
  return { row: rows[0], status, mailsTo: stack.smtp.messagesTo(targetEmail).length, bystander: (await api.get('/v1/email/change', { token: bystander.token })).body };
}

let before: Awaited<ReturnType<typeof snapshot>>;
/** Answers by status for the endpoint under test, printed after it. */
const tally = new Map<number, number>();
beforeEach(async () => {
  tally.clear();
  before = await snapshot();
  expect(before.status.change).toMatchObject({ state: 'REQUESTED', confirmations: { new: false }, resendsLeft: 5 });
});
afterEach(async (ctx) => {
  console.log(`[faults] fuzz ${ctx.task.name}: ${[...tally].sort(([a], [b]) => a - b).map(([status, n]) => `${n}×${status}`).join(', ')}`);
  expect(await snapshot()).toEqual(before);
  // Still up and still serving.
  expect((await api.get('/healthz')).status).toBe(200);
  expect((await api.get('/readyz')).status).toBe(200);
});

interface Answer {
  status: number;
  type: string;
  text: string;
  json?: any;
}

/** Sends one fuzzed request and checks what every answer must be: < 500, R-ERR JSON or an HTML page, safe headers. */
async function send(method: string, path: string, req: FuzzRequest, headers: Record<string, string | undefined> = {}): Promise<Answer> {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) h[k] = v;
  let body: string | undefined;
  if (req.kind === 'json') body = JSON.stringify(req.value);
  if (req.kind === 'raw') body = req.body;
  if (req.contentType) h['content-type'] = req.contentType;
  const res = await fetch(`${stack.baseUrl}${path}`, { method, headers: h, body, redirect: 'manual' });
  const text = await res.text();
  tally.set(res.status, (tally.get(res.status) ?? 0) + 1);
  const type = res.headers.get('content-type') ?? '';
  const where = `${method} ${path.slice(0, 200)} → ${res.status} ${text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status === 431 || res.status === 414) return { status: res.status, type, text }; // refused by Node's HTTP parser before the app
  const id = res.headers.get('x-request-id') ?? '';
  expect(id, where).toMatch(/^[\w.-]{1,64}$/);
  if (h['x-request-id'] && /^[\w.-]{1,64}$/.test(h['x-request-id'])) expect(id).toBe(h['x-request-id']);
  expect(res.headers.get('referrer-policy'), where).toBe('no-referrer');
  let json: any;
  if (type.includes('application/json')) {
    json = JSON.parse(text);
    if (res.status >= 400) {
      expect(typeof json.error?.code, where).toBe('string');
      expect(typeof json.error?.message, where).toBe('string');
    }
  } else {
    expect(type, where).toContain('text/html');
    expect(text, where).toMatch(/^<!doctype html>/);
    expect(text, where).not.toMatch(/<script/i);
  }
  return { status: res.status, type, text, json };
}

/** Runs the property RUNS times; a failure names the seed (FUZZ_SEED replays it) and a shortened counterexample. */
async function run<T>(arb: fc.Arbitrary<T>, check: (value: T) => Promise<void>, examples: T[] = []): Promise<void> {
  const details = await fc.check(
    fc.asyncProperty(arb, async (value) => {
      await check(value);
    }),
    // Known-hostile inputs first, every run; then RUNS generated ones.
    { numRuns: RUNS + examples.length, seed: SEED, endOnFailure: true, examples: examples.map((e) => [e] as [T]) },
  );
  if (details.failed) {
    const example = JSON.stringify(details.counterexample)?.slice(0, 1_000);
    const error = String((details.errorInstance as Error | undefined)?.message ?? details.errorInstance).slice(0, 2_000);
    throw new Error(`property failed after ${details.numRuns} runs (FUZZ_SEED=${details.seed}); counterexample: ${example}\n${error}`);
  }
  expect(details.numRuns).toBe(RUNS + examples.length);
}

const json = (value: unknown): FuzzRequest => ({ kind: 'json', value, contentType: 'application/json' });
const form = (fields: Record<string, string>): FuzzRequest => ({ kind: 'raw', body: new URLSearchParams(fields).toString(), contentType: 'application/x-www-form-urlencoded' });
const NUL = '\u0000';

/** 414/431: Node's HTTP parser refuses a URL or headers over its limit before the app sees them, which is fine. */
const oneOf = (status: number, allowed: number[], what: string) => expect([...allowed, 414, 431], `${what}: unexpected ${status}`).toContain(status);
/** A body of a type the route does not read is refused with 415 (issue #11) before anything else is looked at. */
const withBody = (allowed: number[]) => [...allowed, 415];
const describeReq = (req: FuzzRequest) => JSON.stringify(req).slice(0, 300);

describe(`fuzzing with ${RUNS} generated requests per endpoint: never a 5xx, nothing written`, () => {
  it('POST /v1/users', { timeout: 180_000 }, async () => {
    const body = fieldsBody({ username: fc.stringMatching(/^[A-Za-z0-9_.-]{3,64}$/), password: fc.string({ minLength: 8, maxLength: 256 }), email: fc.emailAddress() }).filter((b) => !isValidSignUp(b));
    await run(
      fc.tuple(jsonRequests(body), requestIds),
      async ([req, requestId]) => {
        const res = await send('POST', '/v1/users', req, { 'x-request-id': requestId });
        oneOf(res.status, withBody([400, 413]), describeReq(req));
      },
      [
        [json({ username: `a${NUL}b`, password: 'correct horse battery' }), undefined],
        [json({ username: 'fuzz_ok_name', password: `short${NUL}` }), 'a b'],
        [json({ username: 'fuzz_ok_name', password: 'correct horse battery', email: `a${NUL}b@example.com` }), undefined],
        [json({ username: 'fuzz_ok_name', password: 'correct horse battery', admin: true }), undefined],
        [json(JSON.parse('{"username":"fuzz_ok_name","password":"correct horse battery","__proto__":{"admin":true}}')), undefined],
      ],
    );
  });

  it('POST /v1/sessions', { timeout: 180_000 }, async () => {
    const username = fc.oneof(fc.constant(target.username), fc.constant(target.username.toUpperCase()), nastyString);
    const body = fieldsBody({ username, password: fc.string({ maxLength: 256 }) }).filter((b) => b.password !== target.password);
    await run(
      fc.tuple(jsonRequests(body), requestIds),
      async ([req, requestId]) => {
        const res = await send('POST', '/v1/sessions', req, { 'x-request-id': requestId });
        // Wrong sign-in passwords are counted tries now (issue #9): the username backs off (429) and the account locks.
        oneOf(res.status, withBody([400, 401, 413, 429]), describeReq(req));
      },
      [
        [json({ username: `a${NUL}b`, password: 'wrong password' }), undefined],
        [json({ username: `${target.username}${NUL}`, password: 'wrong password' }), undefined],
        [json({ username: target.username, password: `wrong${NUL}password` }), undefined],
        [json({ username: `${target.username}\r\n`, password: 'wrong password' }), undefined],
      ],
    );
    // The flood of wrong passwords locked the target, as it must; the snapshot check below is about everything else.
    const locked = await stack.pool.query('SELECT locked_until > now() AS locked FROM users WHERE id = $1', [target.id]);
    expect(locked.rows[0].locked).toBe(true);
    await stack.pool.query('UPDATE users SET auth_failures = 0, auth_window_start = NULL, locked_until = NULL WHERE id = $1', [target.id]);
  });

  it('POST /v1/email/change (signed in, and with hostile Authorization headers)', { timeout: 180_000 }, async () => {
    const auth = fc.oneof(
      fieldsBody({ method: fc.constantFrom('password', 'biometric', 'PASSWORD', 'magic'), password: fc.string({ maxLength: 300 }) }),
      anyValue,
    );
    const body = fieldsBody({ email: fc.oneof(fc.emailAddress(), fc.constant(targetEmail)), auth }).filter((b) => !isValidStart(b));
    const authorization = fc.oneof({ arbitrary: fc.constant(`Bearer ${target.token}`), weight: 4 }, { arbitrary: badAuthorization, weight: 1 });
    await run(
      fc.tuple(jsonRequests(body), authorization),
      async ([req, authz]) => {
        const res = await send('POST', '/v1/email/change', req, { authorization: authz });
        oneOf(res.status, withBody([400, 401, 413]), describeReq(req));
      },
      [
        [json({ email: `a${NUL}b@example.com`, auth: { method: 'password', password: `x${NUL}` } }), `Bearer ${target.token}`],
        [json({ email: `${targetEmail}\r\nBcc: evil@example.com`, auth: { method: 'password', password: 'x' } }), `Bearer ${target.token}`],
        [json({ email: targetEmail, auth: { method: 'password', password: '' } }), `Bearer ${target.token}`],
      ],
    );
  });

  it('POST /v1/email/change/resend (inside the cooldown)', { timeout: 180_000 }, async () => {
    const authorization = fc.oneof({ arbitrary: fc.constant(`Bearer ${target.token}`), weight: 4 }, { arbitrary: badAuthorization, weight: 1 });
    await run(fc.tuple(jsonRequests(fieldsBody({ force: fc.boolean(), email: fc.emailAddress() })), authorization), async ([req, authz]) => {
      const res = await send('POST', '/v1/email/change/resend', req, { authorization: authz });
      oneOf(res.status, withBody([400, 401, 413, 429]), describeReq(req));
    });
  });

  it('DELETE /v1/email/change (without the target\'s session)', { timeout: 180_000 }, async () => {
    const authorization = fc.oneof(badAuthorization, fc.constant(`Bearer ${bystander.token}`));
    await run(fc.tuple(jsonRequests(anyValue), authorization, queryStrings('id', nastyString)), async ([req, authz, query]) => {
      const res = await send('DELETE', `/v1/email/change?${query}`, req, { authorization: authz });
      oneOf(res.status, withBody(authz === `Bearer ${bystander.token}` ? [404] : [401]), describeReq(req));
    });
  });

  it('POST /v1/email/verify', { timeout: 180_000 }, async () => {
    const token = fc.oneof({ arbitrary: tokensNear(realToken), weight: 3 }, { arbitrary: anyValue, weight: 1 });
    const body = fieldsBody({ token }).filter((b) => !(b.token === realToken && Object.keys(b).length === 1));
    await run(
      jsonRequests(body),
      async (req) => {
        const res = await send('POST', '/v1/email/verify', req);
        oneOf(res.status, withBody([400, 413]), describeReq(req));
        if (res.status === 400) expect(['VALIDATION_FAILED', 'INVALID_TOKEN']).toContain(res.json.error.code);
      },
      [json({ token: `${realToken}${NUL}` }), json({ token: `${realToken.slice(0, -1)}${realToken.endsWith('A') ? 'B' : 'A'}` }), json({ token: realToken, extra: 1 }), json({ token: [realToken] })],
    );
  });

  it('GET /v1/email/availability', { timeout: 180_000 }, async () => {
    let i = 0;
    await run(queryStrings('email', fc.oneof(nastyString, fc.emailAddress(), fc.constant(targetEmail))), async (query) => {
      const checker = checkers[i++ % checkers.length]!;
      const res = await send('GET', `/v1/email/availability?${query}`, { kind: 'none' }, { authorization: `Bearer ${checker.token}` });
      oneOf(res.status, [200, 400, 414, 429, 431], query.slice(0, 200));
      if (res.status === 200) {
        expect(typeof res.json.available).toBe('boolean');
        expect(typeof res.json.email).toBe('string');
      }
    });
  });

  it('GET /verify-email?token=', { timeout: 180_000 }, async () => {
    await run(fc.tuple(queryStrings('token', tokensNear(realToken)), requestIds), async ([query, requestId]) => {
      const res = await send('GET', `/verify-email?${query}`, { kind: 'none' }, { 'x-request-id': requestId });
      oneOf(res.status, [400, 414, 431], query.slice(0, 200));
    });
  });

  it('POST /verify-email (the Confirm button\'s form)', { timeout: 180_000 }, async () => {
    await run(
      formRequests(fc.oneof({ arbitrary: tokensNear(realToken), weight: 3 }, { arbitrary: anyValue, weight: 1 })),
      async (req) => {
        if (req.kind === 'raw' && new URLSearchParams(req.body).getAll('token').includes(realToken)) return; // a real press
        const res = await send('POST', '/verify-email', req);
        oneOf(res.status, withBody([400, 413]), describeReq(req));
      },
      [form({ token: `${realToken}${NUL}` }), form({ token: `${realToken.slice(0, -1)}${realToken.endsWith('A') ? 'B' : 'A'}` }), form({ 'token[]': realToken })],
    );
  });

  it('POST /verify-email/resend (the "send a new link" form)', { timeout: 180_000 }, async () => {
    await run(formRequests(fc.oneof(tokensNear(realToken), fc.constant(realToken), anyValue)), async (req) => {
      const res = await send('POST', '/verify-email/resend', req);
      oneOf(res.status, withBody([400, 413, 429]), describeReq(req));
    });
  });
});
