import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './index';
import { webhookMessage, type EventRow } from '../webhooks/message';
import { postWebhook } from '../webhooks/post';

/** Events read per query; the activity keeps going until the user's log is delivered to its end. */
const BATCH = 100;

/**
 * Issue #14: delivers the user's undelivered events (change_events after the user's cursor) to
 * WEBHOOK_URL, one at a time in log order, moving the cursor after each accepted one. A failure
 * stops at that event (the later ones wait behind it: order per change) and the activity's retry
 * policy tries again with backoff. The cursor is per user, so a run also delivers what the run it
 * replaced left behind (its SUPERSEDED event, written when the newer request started).
 */
export function createWebhookActivities({ config, pool, log }: ActivityDeps) {
  return {
    async deliverWebhooks(args: { userId: string; changeId: string }): Promise<{ delivered: number; deliveredId: number }> {
      const hooks = config.webhooks;
      if (!hooks) throw ApplicationFailure.nonRetryable('WEBHOOK_URL is not set on this worker; the events stay in change_events', 'WEBHOOKS_NOT_CONFIGURED');
      const context = Context.current();
      let deliveredId = await cursorOf(args.userId, args.changeId);
      let delivered = 0;
      for (;;) {
        const { rows } = await pool.query<EventRow>(
          `SELECT e.id, e.change_id AS "changeId", e.user_id AS "userId", e.type, e.data, e.created_at AS "createdAt",
             r.new_email AS "newEmail", r.old_email AS "oldEmail"
           FROM change_events e JOIN email_change_requests r ON r.id = e.change_id
           WHERE e.user_id = $1 AND e.id > $2 ORDER BY e.id LIMIT ${BATCH}`,
          [args.userId, deliveredId],
        );
        for (const event of rows) {
          context.heartbeat(deliveredId);
          try {
            await postWebhook({ ...hooks, signal: context.cancellationSignal }, webhookMessage(event, hooks.includeEmail));
          } catch (err) {
            log.warn({ userId: args.userId, eventId: event.id, attempt: context.info.attempt, err: (err as Error).message }, 'webhook not delivered; retrying');
            throw ApplicationFailure.retryable(`webhook ${event.id} not delivered: ${(err as Error).message}`, 'WEBHOOK_NOT_DELIVERED');
          }
          deliveredId = event.id;
          delivered += 1;
          // Each accepted event moves the cursor at once: a retry after a crash repeats at most the one in flight.
          await advance(args.userId, deliveredId);
        }
        if (rows.length < BATCH) return { delivered, deliveredId: Number(deliveredId) };
      }
    },
  };

  /**
   * Where the user's delivery stands. A user's first run with webhooks starts at its own first event:
   * what happened before webhooks were configured is not replayed to the receiver.
   */
  async function cursorOf(userId: string, changeId: string): Promise<string> {
    const read = () => pool.query<{ id: string }>('SELECT delivered_id AS id FROM webhook_cursors WHERE user_id = $1', [userId]);
    const known = (await read()).rows[0];
    if (known) return known.id;
    await pool.query(
      `INSERT INTO webhook_cursors (user_id, delivered_id)
         SELECT $1, coalesce((SELECT min(id) - 1 FROM change_events WHERE change_id = $2), (SELECT max(id) FROM change_events WHERE user_id = $1), 0)
       ON CONFLICT (user_id) DO NOTHING`,
      [userId, changeId],
    );
    return (await read()).rows[0]!.id;
  }

  /** Moves the cursor forward only: a slower deliverer (a replaced run's) never moves it back. */
  async function advance(userId: string, id: string): Promise<void> {
    await pool.query(
      `INSERT INTO webhook_cursors (user_id, delivered_id, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (user_id) DO UPDATE SET delivered_id = greatest(webhook_cursors.delivered_id, excluded.delivered_id), updated_at = now()`,
      [userId, id],
    );
  }
}
