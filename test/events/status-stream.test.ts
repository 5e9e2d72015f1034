import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { startExtraApi } from '../helpers/services';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { clickAndConfirm, linkIn, startChange, tokenFromMail } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';
import { openStream, type SseStream } from './sse-client';

/**
 * Issue #14 item 3: GET /v1/email/change/events against a real worker, API, Temporal server,
 * PostgreSQL and SMTP capture: the flow driven over HTTP, as an app and a person would.
 */

let stack: TestStack;
let api: ApiClient;
const open: SseStream[] = [];
const stream = async (token: string | undefined, headers?: Record<string, string>, baseUrl = stack.baseUrl) => {
  const s = await openStream(baseUrl, token, headers);
  open.push(s);
  return s;
};

beforeAll(async () => {
  stack = await startStack({ SSE_HEARTBEAT_MS: '300', SSE_MAX_STREAMS_PER_USER: '2' });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  open.forEach((s) => s.close());
  await stack?.stop();
});

describe('the live status stream', () => {
  it('pushes requested → link sent → approved for an add driven over HTTP; another user sees none of it', async () => {
    const user = await signedInUser(api);
    const other = await signedInUser(api);
    const mine = await stream(user.token);
    const theirs = await stream(other.token);
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(mine.headers.get('cache-control')).toContain('no-cache');

    // First event: the current status, exactly as GET /v1/email/change answers it.
    const first = await mine.waitFor(() => true);
    expect(first.event).toBe('status');
    expect(first.id).toMatch(/^\d+$/);
    expect(first.data).toEqual((await api.get('/v1/email/change', { token: user.token })).body);
    expect(first.data.change).toBeNull();
    await theirs.waitFor(() => true);

    const email = uniqueEmail('stream');
    const change = await startChange(api, user, email);
    const requested = await mine.waitFor((e) => e.data.change?.id === change.id && e.data.change.state === 'REQUESTED');
    const sent = await mine.waitFor((e) => e.data.change?.id === change.id && e.data.change.delivery.new.status === 'sent');
    expect(sent.data.change.state).toBe('REQUESTED');

    await clickAndConfirm(linkIn(await stack.smtp.waitForMessage(email)));
    const approved = await mine.waitFor((e) => e.data.change?.id === change.id && e.data.change.state === 'APPROVED');
    expect(approved.data.change).toMatchObject({ newEmail: email, confirmations: { new: true, old: null }, reasonCode: null });
    expect(approved.data).toEqual((await api.get('/v1/email/change', { token: user.token })).body);

    // Ids only grow, and each event says something new.
    const ids = mine.events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(Number(requested.id)).toBeGreaterThan(Number(first.id));
    expect(Number(approved.id)).toBeGreaterThan(Number(sent.id));
    expect(new Set(mine.events.map((e) => JSON.stringify(e.data))).size).toBe(mine.events.length);

    // Without WEBHOOK_URL the run schedules nothing for webhooks: its only activity task is the mail (issue #12's cost).
    const handle = stack.temporal.workflow.getHandle(workflowIdFor(user.id));
    await handle.result();
    const history = await handle.fetchHistory();
    const scheduled = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
    expect(scheduled).toEqual(['sendVerificationMail']);

    // Heartbeats keep flowing; the other user's stream never heard of this change.
    await theirs.waitForComment('heartbeat');
    expect(theirs.events).toHaveLength(1);
    expect(JSON.stringify(theirs.events)).not.toContain(change.id);
    expect(JSON.stringify(theirs.events)).not.toContain(email);
  });

  it('resumes with Last-Event-ID after a disconnect without missing what happened meanwhile', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('resume');
    const first = await stream(user.token);
    const change = await startChange(api, user, email);
    const sent = await first.waitFor((e) => e.data.change?.id === change.id && e.data.change.delivery.new.status === 'sent');
    first.close();
    await first.ended;

    // While nobody listens, the address is confirmed (the app's deep link).
    const verified = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, email) } });
    expect(verified.status).toBe(200);

    const resumed = await stream(user.token, { 'Last-Event-ID': sent.id });
    const next = await resumed.waitFor(() => true);
    expect(Number(next.id)).toBeGreaterThan(Number(sent.id));
    expect(next.data.change).toMatchObject({ id: change.id, state: 'APPROVED', confirmations: { new: true } });
    const events = await stack.pool.query<{ id: string; type: string }>('SELECT id, type FROM change_events WHERE change_id = $1 ORDER BY id', [change.id]);
    // Every event the log holds after the resume point is included in that first status, which carries the latest id.
    expect(events.rows.filter((r) => Number(r.id) > Number(sent.id)).map((r) => r.type)).toEqual(expect.arrayContaining(['confirmed', 'approved']));
    expect(next.id).toBe(events.rows.at(-1)!.id);
  });

  it('answers 401 without a valid token, 400 for a malformed Last-Event-ID, 429 over the per-user limit', async () => {
    const anonymous = await fetch(`${stack.baseUrl}/v1/email/change/events`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as any).error.code).toBe('UNAUTHENTICATED');
    const unknown = await fetch(`${stack.baseUrl}/v1/email/change/events`, { headers: { authorization: `Bearer ${'x'.repeat(43)}` } });
    expect(unknown.status).toBe(401);

    const user = await signedInUser(api);
    const bad = await fetch(`${stack.baseUrl}/v1/email/change/events`, { headers: { authorization: `Bearer ${user.token}`, 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe('VALIDATION_FAILED');

    const a = await stream(user.token);
    const b = await stream(user.token);
    await Promise.all([a.waitFor(() => true), b.waitFor(() => true)]);
    const third = await fetch(`${stack.baseUrl}/v1/email/change/events`, { headers: { authorization: `Bearer ${user.token}` } });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await third.json()) as any).error.code).toBe('RATE_LIMITED');

    // A closed stream frees its place.
    a.close();
    await a.ended;
    let again: SseStream | undefined;
    for (let i = 0; i < 50 && !again; i++) {
      const s = await stream(user.token);
      if (s.status === 200) again = s;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(again?.status).toBe(200);
  });

  it('ends its streams when the API shuts down (a stream never holds the server up)', async () => {
    const extra = await startExtraApi(stack.env, {});
    const user = await signedInUser(api);
    const s = await stream(user.token, {}, extra.baseUrl);
    await s.waitFor(() => true);
    await extra.stop();
    await s.ended;
  });
});
