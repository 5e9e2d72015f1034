import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../src/codec/data-converter';
import { Webhook } from 'standardwebhooks';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { clickAndConfirm, linkIn, startChange, waitForStatus } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';
import { startReceiver, type Received } from './receiver';

/**
 * Issue #14 item 2: signed webhooks delivered by the workflow to a real receiver (node:http) that is
 * down, then fails, then does not answer, then comes back — against the real worker, Temporal
 * server, PostgreSQL and SMTP capture.
 */

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const [OLD_SECRET, NEW_SECRET] = [secret(), secret()];

let receiver: Awaited<ReturnType<typeof startReceiver>>;
let stack: TestStack;
let api: ApiClient;

beforeAll(async () => {
  receiver = await startReceiver();
  // Two secrets: a rotation in progress; receivers holding either one verify every message.
  stack = await startStack({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: `${NEW_SECRET} ${OLD_SECRET}`, WEBHOOK_TIMEOUT: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
});

const bodyOf = (r: Received) => JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, any> };
const eventsOf = async (changeId: string) =>
  (await stack.pool.query<{ id: string; type: string }>('SELECT id, type FROM change_events WHERE change_id = $1 ORDER BY id', [changeId])).rows;
const acceptedFor = (changeId: string) => receiver.accepted().filter((r) => bodyOf(r).data.changeId === changeId);
const runResult = (user: TestUser) => stack.temporal.workflow.getHandle(workflowIdFor(user.id)).result();

describe('signed webhooks', () => {
  it('a receiver that is down, fails, then times out still gets every event once, in order, signed, without addresses', async () => {
    await receiver.down();
    receiver.script.push('fail', 'hang');
    const user = await signedInUser(api);
    const email = uniqueEmail('hook');
    const change = await startChange(api, user, email);

    // The run keeps trying while nothing listens (connection refused), and the flow goes on meanwhile.
    const handle = stack.temporal.workflow.getHandle(workflowIdFor(user.id));
    for (let tries = 0; ; tries++) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      if (pending.some((a) => a.activityType?.name === 'deliverWebhooks' && (a.attempt ?? 0) >= 2)) break;
      if (tries > 200) throw new Error('deliverWebhooks was never retried');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(receiver.received).toHaveLength(0);
    await clickAndConfirm(linkIn(await stack.smtp.waitForMessage(email)));
    await waitForStatus(api, user, (b) => b.change?.state === 'APPROVED');
    await receiver.up(); // 500, then no answer within WEBHOOK_TIMEOUT, then 200s

    // The run completes only once its events are delivered.
    await runResult(user);
    // Its history (every retry of the delivery in it) replays against the workflow code: the webhook path is deterministic.
    const history = await handle.fetchHistory();
    await expect(
      Worker.runReplayHistory({ dataConverter: dataConverter(stack.config.payloadKeys), workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'webhooks' }, history),
    ).resolves.toBeUndefined();
    const delivers = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverWebhooks');
    expect(delivers.length).toBeGreaterThan(0);
    const log = await eventsOf(change.id);
    expect(log.map((e) => e.type)).toEqual(['requested', 'link_issued', 'link_sent', 'confirmed', 'approved']);
    expect(receiver.received.map((r) => r.answered).slice(0, 2)).toEqual([500, 'timeout']);

    const accepted = acceptedFor(change.id);
    // Each event accepted exactly once, in the log's order; the ids derive from the log.
    expect(accepted.map((r) => bodyOf(r).data.eventId)).toEqual(log.map((e) => Number(e.id)));
    expect(accepted.map((r) => bodyOf(r).type)).toEqual(log.map((e) => `email_change.${e.type}`));
    expect(new Set(accepted.map((r) => r.headers['webhook-id'])).size).toBe(log.length);

    // A webhook-id seen more than once is a retry of the same content.
    const byId = new Map<string, Set<string>>();
    for (const r of receiver.received) byId.set(r.headers['webhook-id']!, (byId.get(r.headers['webhook-id']!) ?? new Set()).add(r.body));
    expect([...byId.values()].every((bodies) => bodies.size === 1)).toBe(true);
    expect(byId.size).toBe(log.length);

    // Standard Webhooks signatures, verified by the reference library with either secret (rotation).
    for (const r of receiver.received) {
      expect(new Webhook(OLD_SECRET).verify(r.body, r.headers)).toEqual(JSON.parse(r.body));
      expect(new Webhook(NEW_SECRET).verify(r.body, r.headers)).toEqual(JSON.parse(r.body));
      expect(r.headers['webhook-signature']!.split(' ')).toHaveLength(2);
      expect(r.headers['content-type']).toBe('application/json');
    }
    // A tampered body or a wrong secret does not verify.
    const sample = accepted[0]!;
    expect(() => new Webhook(secret()).verify(sample.body, sample.headers)).toThrow();
    expect(() => new Webhook(OLD_SECRET).verify(sample.body.replace('requested', 'approved'), sample.headers)).toThrow();

    // Ids and states; no addresses by default.
    expect(bodyOf(accepted.at(-1)!).data).toMatchObject({ changeId: change.id, userId: user.id, state: 'APPROVED', kind: 'ADD' });
    expect(bodyOf(accepted[2]!).data).toMatchObject({ purpose: 'new', delivery: { status: 'sent' } });
    for (const r of receiver.received) {
      expect(r.body).not.toContain(email);
      expect(r.body).not.toContain('@');
    }
  });

  it('a replaced request\'s SUPERSEDED goes out with the next run; a cancel is delivered before that run completes', async () => {
    const user = await signedInUser(api);
    const first = await startChange(api, user, uniqueEmail('first'));
    await waitForStatus(api, user, (b) => b.change?.delivery?.new?.status === 'sent');
    const second = await startChange(api, user, uniqueEmail('second'));
    await waitForStatus(api, user, (b) => b.change?.id === second.id && b.change.delivery.new.status === 'sent');
    expect((await api.delete('/v1/email/change', { token: user.token })).status).toBe(200);
    await runResult(user);

    expect(acceptedFor(first.id).map((r) => bodyOf(r).type)).toContain('email_change.superseded');
    const log = await eventsOf(second.id);
    expect(log.map((e) => e.type)).toEqual(['requested', 'link_issued', 'link_sent', 'cancelled']);
    expect(acceptedFor(second.id).map((r) => bodyOf(r).data.eventId)).toEqual(log.map((e) => Number(e.id)));
    // Across the user's changes, accepted in the log's order.
    const ids = receiver.accepted().filter((r) => bodyOf(r).data.userId === user.id).map((r) => bodyOf(r).data.eventId as number);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });
});
