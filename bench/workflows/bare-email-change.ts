import { allHandlersFinished, condition, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { BareActivities } from './bare-activities';
import { bareRecordedUpdate, bareStatusQuery, bareVerifyUpdate, type BareInput, type BareStatus } from './bare-messages';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { dbOptions } from '../../src/workflows/local-db';

/**
 * The engine bound: the same Temporal shape as an email ADD (src/workflows/email-change.ts) with
 * nothing else. Started with the same two search attributes and TERMINATE_EXISTING by the bench;
 * three activities (record, prepare link, send mail in the background), a 24h-style deadline
 * timer raced against one `verify` Update (with a validator), then one more activity (apply), an
 * upsert of the state search attribute and completion. Every activity body is a no-op
 * (bench/workflows/bare-activities.ts), so what is left is the engine's own cost.
 */

// Same activity options as the real workflow's `db` and `smtp` proxies.
const db = proxyActivities<BareActivities>(dbOptions);
const smtp = proxyActivities<BareActivities>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 1 } });
const local = proxyLocalActivities<BareActivities>(dbOptions); // the add shape's PostgreSQL steps, as the real workflow runs them

/** Every bare shape's `verify` validator: the run's own change and link, else refused before the history. */
function linkOf(s: BareStatus) {
  return ({ changeId, tokenHash }: { changeId: string; tokenHash: string }) => {
    if (changeId !== s.changeId || tokenHash !== s.tokenHash) throw new Error('This link is not valid');
  };
}

export async function bareEmailChange(input: BareInput): Promise<BareStatus> {
  const s: BareStatus = { changeId: input.changeId, state: 'REQUESTED', confirmed: false, tokenHash: null, delivery: 'pending' };
  const deadline = Date.now() + input.changeTtlMs;

  setHandler(bareStatusQuery, () => s);
  setHandler(
    bareVerifyUpdate,
    async () => {
      s.confirmed = true;
      await condition(() => s.state !== 'REQUESTED');
      return s;
    },
    { validator: linkOf(s) },
  );

  await db.bareRecordRequest(input);
  s.delivery = 'sending';
  const prepared = await db.barePrepareLink({ changeId: input.changeId, to: input.newEmail });
  s.tokenHash = prepared.tokenHash;
  void smtp.bareSendMail({ changeId: input.changeId, userId: input.userId, tokenHash: prepared.tokenHash }).then(() => {
    s.delivery = 'sent';
  });

  const decided = await condition(() => s.confirmed, Math.max(1, deadline - Date.now()));
  if (decided) {
    await db.bareApply({ changeId: input.changeId, userId: input.userId });
    s.state = 'APPROVED';
  } else {
    s.state = 'EXPIRED';
  }
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.state.key, value: s.state }]);
  await condition(allHandlersFinished); // let the waiting verify Update answer first, as the real workflow does
  return s;
}

/** The floors' handlers: the status query, and a validated `verify` Update that approves at once. */
function approvesOnVerify(s: BareStatus): void {
  setHandler(bareStatusQuery, () => s);
  setHandler(
    bareVerifyUpdate,
    () => {
      s.confirmed = true;
      s.state = 'APPROVED';
      return s;
    },
    { validator: linkOf(s) },
  );
}

/**
 * The engine's floor for one change (issue #12): start, one `verify` Update (validated), the durable
 * deadline timer, completion; the state search attribute as started. Any implementation of the flow
 * needs at least this; bench/lib/flows.ts's minimalFlow drives it.
 */
export async function minimalEmailChange(input: BareInput): Promise<BareStatus> {
  const s: BareStatus = { changeId: input.changeId, state: 'REQUESTED', confirmed: false, tokenHash: `hash-${input.changeId}`, delivery: 'sent' };
  approvesOnVerify(s);
  if (!(await condition(() => s.confirmed, input.changeTtlMs))) s.state = 'EXPIRED';
  await condition(allHandlersFinished);
  return s;
}

/**
 * The floor for an add as issue #12 bounds it: the engine minimum plus the one thing the issue keeps
 * out of a workflow task, the mail as a regular activity (no-op body, eager like the product's) whose
 * completion the run hears of (its `delivery`). Start → mail → `verify` Update → completion: the add's
 * three workflow tasks, with no PostgreSQL, no local activity, no codec and no API.
 */
export async function mailFloorEmailChange(input: BareInput): Promise<BareStatus> {
  const s: BareStatus = { changeId: input.changeId, state: 'REQUESTED', confirmed: false, tokenHash: `hash-${input.changeId}`, delivery: 'sending' };
  approvesOnVerify(s);
  void smtp.bareSendMail({ changeId: input.changeId, userId: input.userId, tokenHash: s.tokenHash! }).then(() => {
    s.delivery = 'sent';
  });
  if (!(await condition(() => s.confirmed, input.changeTtlMs))) s.state = 'EXPIRED';
  await condition(() => s.delivery === 'sent' && allHandlersFinished());
  return s;
}

/**
 * The add's own shape with no-op bodies (issue #12's levers taken): started by update-with-start,
 * whose answer follows a local activity (the record); the mail a regular activity the run hears
 * of; the `verify` Update runs a local activity (the apply) before it answers; the outcome's
 * upsert; completion. What the current add costs in Temporal and the SDK before PostgreSQL, SMTP,
 * the codec and the API do any work.
 */
export async function addShapeEmailChange(input: BareInput): Promise<BareStatus> {
  const s: BareStatus = { changeId: input.changeId, state: 'REQUESTED', confirmed: false, tokenHash: `hash-${input.changeId}`, delivery: 'pending' };
  let recorded = false;
  setHandler(bareStatusQuery, () => s);
  setHandler(bareRecordedUpdate, async () => {
    await condition(() => recorded);
    return s;
  });
  setHandler(
    bareVerifyUpdate,
    async () => {
      await local.bareApply({ changeId: input.changeId, userId: input.userId });
      s.confirmed = true;
      s.state = 'APPROVED';
      return s;
    },
    { validator: linkOf(s) },
  );
  await local.bareRecordRequest(input);
  recorded = true;
  s.delivery = 'sending';
  void smtp.bareSendMail({ changeId: input.changeId, userId: input.userId, tokenHash: s.tokenHash! }).then(() => {
    s.delivery = 'sent';
  });
  if (!(await condition(() => s.confirmed, input.changeTtlMs))) s.state = 'EXPIRED';
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.state.key, value: s.state }]);
  await condition(() => s.delivery === 'sent' && allHandlersFinished());
  return s;
}
