import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { startStack, type TestStack } from '../helpers/stack';
import { startExtraApi, type FaultApi } from '../helpers/services';
import { startReplyDroppingProxy, type ReplyDroppingProxy } from '../helpers/reply-dropping-proxy';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type ApiResponse, type TestUser } from '../helpers/http';
import { clickAndConfirm, linkIn, PASSWORD_PROOF, startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { statusQuery, workflowIdFor } from '../../src/workflows/messages';

/** Issue #9 items 6 and 9: start and replace are one consistent step, decided under the user's row lock. */
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rows = async (userId: string) =>
  (await stack.pool.query('SELECT id, state, kind, needs_old_confirmation AS "needsOld", new_email AS "newEmail" FROM email_change_requests WHERE user_id = $1 ORDER BY created_at', [userId])).rows;

/** Every REQUESTED row has the user's open run behind it (nothing stranded), and there is at most one. */
async function expectNothingStranded(user: TestUser) {
  const open = (await rows(user.id)).filter((r) => r.state === 'REQUESTED');
  expect(open.length).toBeLessThanOrEqual(1);
  for (const row of open) {
    const live = await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).query(statusQuery);
    expect(live).toMatchObject({ id: row.id, state: 'REQUESTED' });
  }
}

describe('a lost answer from Temporal strands nothing (issue #9 item 6)', () => {
  let proxy: ReplyDroppingProxy;
  let lossy: FaultApi;
  beforeAll(async () => {
    proxy = await startReplyDroppingProxy(stack.env.TEMPORAL_ADDRESS!);
    lossy = await startExtraApi(stack.env, { TEMPORAL_ADDRESS: proxy.address });
  });
  afterAll(async () => {
    await lossy?.stop();
    await proxy?.stop();
  });

  it('the replacing start reaches Temporal but its reply is lost: 503, then one consistent pending request that cancels', async () => {
    const user = await signedInUser(api);
    const firstEmail = uniqueEmail('lost-first');
    const first = await startChange(api, user, firstEmail);
    const firstLink = linkIn(await stack.smtp.waitForMessage(firstEmail));
    const viaProxy = apiClient(lossy.baseUrl);
    // The proxied connection is up (the status of a pending change comes from PostgreSQL; readiness asks Temporal).
    expect((await viaProxy.get('/readyz')).status).toBe(200);

    proxy.dropReplies(true);
    const secondEmail = uniqueEmail('lost-second');
    const lost = await viaProxy.post('/v1/email/change', { token: user.token, json: { email: secondEmail, auth: PASSWORD_PROOF(user) } });
    proxy.cut();
    proxy.dropReplies(false);
    expect(lost.status).toBe(503);
    expect(lost.body.error.code).toBe('UNAVAILABLE');

    // The start did reach Temporal: its run records itself and replaces the first request.
    await stack.smtp.waitForMessage(secondEmail);
    const status = await waitForStatus(api, user, (b) => b.change?.newEmail === secondEmail && b.change.state === 'REQUESTED');
    expect(status.change.id).not.toBe(first.id);
    await waitFor(async () => (await rows(user.id)).find((r) => r.id === first.id)?.state === 'SUPERSEDED');
    await expectNothingStranded(user);
    const oldLink = await clickAndConfirm(firstLink);
    expect(oldLink.get.status).toBe(410);

    const cancelled = await api.delete('/v1/email/change', { token: user.token });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.change).toMatchObject({ id: status.change.id, state: 'CANCELLED' });
    expect((await rows(user.id)).map((r) => r.state)).toEqual(['SUPERSEDED', 'CANCELLED']);
  });

  it('the reply is lost under an Idempotency-Key: the retry answers the change that start made and replaces nothing (issue #13)', async () => {
    const user = await signedInUser(api);
    const first = await startChange(api, user, uniqueEmail('keyed-first'));
    const viaProxy = apiClient(lossy.baseUrl);
    expect((await viaProxy.get('/readyz')).status).toBe(200);

    const email = uniqueEmail('keyed-lost');
    const keyed = (client: ApiClient) =>
      client.post('/v1/email/change', { token: user.token, headers: { 'Idempotency-Key': 'lost-reply-retried' }, json: { email, auth: PASSWORD_PROOF(user) } });
    proxy.dropReplies(true);
    const lost = await keyed(viaProxy);
    proxy.cut();
    proxy.dropReplies(false);
    expect(lost.status).toBe(503);

    // The client retries as told (Retry-After), on another API: the same change answers, started once.
    const retried = await keyed(api);
    expect(retried.status, retried.text).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(retried.body.change).toMatchObject({ newEmail: email, state: 'REQUESTED' });
    await stack.smtp.waitForMessage(email);
    await waitFor(async () => (await rows(user.id)).length === 2);
    const all = await rows(user.id);
    expect(all.map((r) => [r.id, r.state])).toEqual([
      [first.id, 'SUPERSEDED'],
      [retried.body.change.id, 'REQUESTED'],
    ]);
    await expectNothingStranded(user);
    // A third try replays the stored answer; one mail went to the address for all three.
    const replayed = await keyed(api);
    expect([replayed.status, replayed.headers.get('idempotent-replayed'), replayed.body.change.id]).toEqual([202, 'true', retried.body.change.id]);
    await sleep(500);
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
  });

  it('many parallel replacing starts: exactly one request stays pending and it is the open run', async () => {
    const user = await signedInUser(api);
    const emails = Array.from({ length: 6 }, (_, i) => uniqueEmail(`parallel-${i}`));
    const answers = await Promise.all(emails.map((email) => api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) } })));
    expect(answers.map((a) => a.status).filter((s) => s !== 202 && s !== 429)).toEqual([]);
    // A run replaced before it recorded itself leaves no row; every row but the open run's is SUPERSEDED.
    await waitFor(async () => {
      const all = await rows(user.id);
      return all.filter((r) => r.state === 'REQUESTED').length === 1 && all.every((r) => r.state === 'REQUESTED' || r.state === 'SUPERSEDED');
    });
    await expectNothingStranded(user);
  });
});

describe('ADD or UPDATE is decided under the row lock, and re-checked when applying (issue #9 item 9)', () => {
  it("a start racing the owner's own ADD confirmation still needs the old address's confirmation", async () => {
    const user = await signedInUser(api);
    const firstEmail = uniqueEmail('race-add');
    await startChange(api, user, firstEmail);
    const addToken = await tokenFromMail(stack.smtp, firstEmail);
    const attackerEmail = uniqueEmail('race-attacker');

    // Hold the start after it has read the account (unverified) and passed re-authentication, just before it
    // starts the run (its start counter's row), and let the owner's ADD confirmation commit in that window.
    const counterKey = `startPerUser:${createHash('sha256').update(user.id).digest('hex')}`;
    const holder: pg.PoolClient = await stack.pool.connect();
    let start: Promise<ApiResponse>;
    let confirmed: ApiResponse;
    try {
      await holder.query('BEGIN');
      expect((await holder.query('SELECT 1 FROM rate_limits WHERE key = $1 FOR UPDATE', [counterKey])).rowCount).toBe(1);
      start = api.post('/v1/email/change', { token: user.token, json: { email: attackerEmail, auth: PASSWORD_PROOF(user) } });
      await waitForBlocked(holder, 1, start);
      confirmed = await api.post('/v1/email/verify', { json: { token: addToken } });
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    const started = await start;
    expect(confirmed.status).toBe(200);
    expect(started.status).toBe(202);
    // The 202 is what the run recorded under the row lock, after the confirmation landed (issue #12: update-with-start).
    expect(started.body.change).toMatchObject({ kind: 'UPDATE', confirmations: { new: false, old: false } });
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: firstEmail, emailVerified: true });

    // Recorded as an UPDATE that needs the (now verified) old address.
    await waitFor(async () => (await rows(user.id)).some((r) => r.newEmail === attackerEmail && r.state === 'REQUESTED'));
    const recorded = (await rows(user.id)).find((r) => r.newEmail === attackerEmail)!;
    expect(recorded).toMatchObject({ kind: 'UPDATE', needsOld: true });
    const oldMail = await stack.smtp.waitForMessage(firstEmail, { seen: 1 });
    expect(oldMail.subject).toBe('Confirm the change of your account email');

    // The new address alone changes nothing.
    const newOnly = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, attackerEmail) } });
    expect(newOnly.status).toBe(200);
    expect(newOnly.body).toMatchObject({ state: 'REQUESTED', confirmations: { new: true, old: false } });
    expect((await api.get('/v1/me', { token: user.token })).body.email).toBe(firstEmail);
  });

  it("an approval whose account address moved meanwhile is declined, and nothing changes", async () => {
    const { user, email: oldEmail } = await userWithVerifiedEmail(api, stack.smtp, 'moved-old');
    const newEmail = uniqueEmail('moved-new');
    const change = await startChange(api, user, newEmail);
    const oldToken = new URL(linkIn(await stack.smtp.waitForMessage(oldEmail, { seen: 1 }))).searchParams.get('token')!;
    const newToken = await tokenFromMail(stack.smtp, newEmail);
    // Support (or any other path) changes the account's address while the request is open.
    const supportEmail = uniqueEmail('moved-support');
    await stack.pool.query('UPDATE users SET email = $2, email_normalized = lower($2) WHERE id = $1', [user.id, supportEmail]);

    expect((await api.post('/v1/email/verify', { json: { token: oldToken } })).status).toBe(200);
    const last = await api.post('/v1/email/verify', { json: { token: newToken } });
    expect(last.status).toBe(409);
    expect(last.body.error.code).toBe('ACCOUNT_EMAIL_CHANGED');
    expect((await rows(user.id)).find((r) => r.id === change.id)?.state).toBe('DECLINED');
    expect((await api.get('/v1/me', { token: user.token })).body.email).toBe(supportEmail);
  });
});

/** Waits until `n` sessions wait on a lock the holder's session has; fails at once if `request` answered instead. */
async function waitForBlocked(holder: pg.PoolClient, n: number, request: Promise<ApiResponse>) {
  let answered: ApiResponse | undefined;
  void request.then((r) => (answered = r));
  const pid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  await waitFor(async () => {
    if (answered) {
      const waiting = await stack.pool.query("SELECT pid, wait_event_type, wait_event, pg_blocking_pids(pid) AS blockers, left(query, 80) AS query FROM pg_stat_activity WHERE state <> 'idle'");
      throw new Error(`the request answered instead of waiting: ${answered.status} ${answered.text}; holder ${pid}; ${JSON.stringify(waiting.rows)}`);
    }
    return (await stack.pool.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [pid])).rows[0].n >= n;
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await sleep(100);
  }
}
