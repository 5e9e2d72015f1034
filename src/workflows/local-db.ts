import { patched, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChangeState } from './state';

/** PostgreSQL work retries for ~45 minutes (an outage must not lose the request), each try bounded. */
export const dbOptions = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 50 } } as const;

/**
 * A run's local activities run one at a time. Two in flight at once can resolve in two activations
 * live but in one on replay, and the commands their callers emit in between then replay in another
 * order: a nondeterminism error that stalls the run once its worker loses it (two confirmations in
 * one workflow task, a confirmation beside a cancel or the deadline). Only a run that meets this
 * records the marker; one that met it before the patch replays as it ran.
 */
export const ONE_LOCAL_ACTIVITY_AT_A_TIME = 'one-local-activity-at-a-time';

interface Gate {
  last: Promise<unknown>;
  inFlight: number;
}

function oneAtATime<T>(gate: Gate, start: () => Promise<T>): Promise<T> {
  const after = gate.inFlight > 0 && patched(ONE_LOCAL_ACTIVITY_AT_A_TIME) ? gate.last : undefined;
  gate.inFlight += 1;
  const call = (after ? after.then(start, start) : start()).finally(() => (gate.inFlight -= 1));
  gate.last = call;
  return call;
}

const activities = proxyLocalActivities<Activities>(dbOptions);
export type LocalDb = typeof activities;
const perRun = new WeakMap<ChangeState, LocalDb>();

/** The run's PostgreSQL steps as local activities (issue #12: no task-queue round trip, no activity events), one at a time. */
export function localDbOf(s: ChangeState): LocalDb {
  const known = perRun.get(s);
  if (known) return known;
  const gate: Gate = { last: Promise.resolve(), inFlight: 0 };
  const db = new Proxy(activities, {
    get: (target, name: string) => (...args: unknown[]) => oneAtATime(gate, () => (target[name as keyof Activities] as (...a: unknown[]) => Promise<unknown>)(...args)),
  });
  perRun.set(s, db);
  return db;
}
