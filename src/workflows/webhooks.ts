import { condition, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChangeState } from './state';

/**
 * Issue #14: the run delivers its events (change_events, written by PostgreSQL triggers in the same
 * transactions as the state they describe) to the webhook receiver through the deliverWebhooks
 * activity: after each PostgreSQL step of the run and each mail outcome, and once more before the
 * run completes. Only runs started with `policy.webhooks` (WEBHOOK_URL set) do any of this; the
 * others, and every history recorded before, issue no command for it.
 */

interface Pump {
  /** Deliveries asked for, and how many of those asks the last finished delivery covered. */
  asked: number;
  covered: number;
  gaveUp: boolean;
}

const pumps = new WeakMap<ChangeState, Pump>();

/** What the mail outcomes look like now: a change means a send activity wrote its outcome. */
const mailKey = (s: ChangeState) => [s.links.new, s.links.old].map((l) => (l ? `${l.sends}.${l.delivery.status}.${l.delivery.attempts}` : '')).join('|');

/** Starts the run's delivery loop when its policy asks for webhooks. */
export function startWebhooks(s: ChangeState): void {
  const giveUpMs = s.input.policy.webhooks?.giveUpMs;
  if (giveUpMs === undefined) return;
  const acts = proxyActivities<Activities>({
    startToCloseTimeout: '10m',
    heartbeatTimeout: '2m',
    // A receiver down for hours still gets every event: retried with backoff up to WEBHOOK_GIVE_UP.
    scheduleToCloseTimeout: giveUpMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m', nonRetryableErrorTypes: ['WEBHOOKS_NOT_CONFIGURED'] },
  });
  const pump: Pump = { asked: 1, covered: 0, gaveUp: false };
  pumps.set(s, pump);
  void (async () => {
    let seen = mailKey(s);
    for (;;) {
      await condition(() => pump.asked > pump.covered || mailKey(s) !== seen);
      seen = mailKey(s);
      const covers = pump.asked;
      try {
        await acts.deliverWebhooks({ userId: s.input.userId, changeId: s.input.changeId });
      } catch {
        // Given up (WEBHOOK_GIVE_UP) or not configured on the worker: the run goes on; the events stay
        // in change_events behind the user's cursor and go out with the user's next run.
        pump.gaveUp = true;
        return;
      }
      pump.covered = covers;
    }
  })();
}

/** Asks for a delivery after a PostgreSQL step wrote (its events are committed by now). */
export function nudgeWebhooks(s: ChangeState): void {
  const pump = pumps.get(s);
  if (pump) pump.asked += 1;
}

/** `db` with every call followed by a delivery ask; `db` itself when the run has no webhooks. */
export function withWebhooks<T extends object>(s: ChangeState, db: T): T {
  if (!pumps.has(s)) return db;
  return new Proxy(db, {
    get(target, name) {
      const fn = Reflect.get(target, name) as unknown;
      if (typeof fn !== 'function') return fn;
      return (...args: unknown[]) => (fn as (...a: unknown[]) => Promise<unknown>)(...args).finally(() => nudgeWebhooks(s));
    },
  });
}

/** Before the run completes: every event written so far delivered, or delivery given up. */
export async function webhooksDelivered(s: ChangeState): Promise<void> {
  const pump = pumps.get(s);
  if (!pump) return;
  pump.asked += 1;
  const target = pump.asked;
  await condition(() => pump.covered >= target || pump.gaveUp);
}
