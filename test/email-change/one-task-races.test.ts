import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../src/codec/data-converter';
import { ONE_LOCAL_ACTIVITY_AT_A_TIME } from '../../src/workflows/local-db';
import { workflowIdFor } from '../../src/workflows/messages';
import { startStack, type TestStack } from '../helpers/stack';
import { startInProcessWorker, type InProcessWorker } from '../helpers/services';
import { apiClient, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail, userWithVerifiedEmail } from '../helpers/flow';

/**
 * Two things reaching a run in one workflow task (its worker was away or busy while both came in):
 * each one's PostgreSQL step is a local activity, and two in flight at once replayed in another
 * order than they ran, so the run failed its next task with a nondeterminism error once its worker
 * lost it (a restart, the sticky cache). Since ONE_LOCAL_ACTIVITY_AT_A_TIME they run one after the
 * other; each case drives the race over HTTP, checks the outcome, and replays the run's history.
 */

let stack: TestStack;
let api: ApiClient;
let worker: InProcessWorker;
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  api = apiClient(stack.baseUrl);
  worker = await startInProcessWorker(stack.env);
});
afterAll(async () => {
  await worker?.stop();
  await stack?.stop();
});

/** A pending change from a verified address, and the tokens of its two links. */
async function pendingChange(tag: string): Promise<{ user: TestUser; tokens: { new: string; old: string } }> {
  const { user, email: old } = await userWithVerifiedEmail(api, stack.smtp, `${tag}-old`);
  const next = uniqueEmail(`${tag}-new`);
  await startChange(api, user, next);
  const [newToken, oldToken] = await Promise.all([tokenFromMail(stack.smtp, next), tokenFromMail(stack.smtp, old, 1)]);
  return { user, tokens: { new: newToken!, old: oldToken! } };
}

/** Sends the requests while no worker polls (each a second after the one before, so they reach the run in order), then brings the worker back; their answers. */
async function whileWorkerAway(requests: (() => Promise<{ status: number; body: any }>)[]) {
  await worker.stop();
  const answers = [];
  for (const request of requests) {
    answers.push(request());
    await new Promise((r) => setTimeout(r, 1_000));
  }
  await new Promise((r) => setTimeout(r, 300));
  worker = await startInProcessWorker(stack.env);
  return Promise.all(answers);
}

async function replaysWithOneAtATime(user: TestUser) {
  const history = await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).fetchHistory();
  const patches = (history.events ?? []).flatMap((e) => {
    const data = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion?.data;
    return data ? [Buffer.from(data).toString()] : [];
  });
  expect(patches).toEqual([JSON.stringify([ONE_LOCAL_ACTIVITY_AT_A_TIME])]);
  await expect(Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: dataConverter(stack.config.payloadKeys) }, history)).resolves.toBeUndefined();
}

describe('two things in one workflow task', () => {
  it('both links of a change confirmed: the first answers REQUESTED, the second APPROVED, and the run replays', async () => {
    const { user, tokens } = await pendingChange('both');
    const answers = await whileWorkerAway([
      () => api.post('/v1/email/verify', { json: { token: tokens.new } }),
      () => api.post('/v1/email/verify', { json: { token: tokens.old } }),
    ]);
    expect(answers.map((a) => [a.status, a.body.state])).toEqual([
      [200, 'REQUESTED'],
      [200, 'APPROVED'],
    ]);
    await replaysWithOneAtATime(user);
  });

  it('a confirmation and a cancel: the confirmation is recorded, the cancel ends the request, and the run replays', async () => {
    const { user, tokens } = await pendingChange('cancel');
    const answers = await whileWorkerAway([
      () => api.post('/v1/email/verify', { json: { token: tokens.new } }),
      () => api.delete('/v1/email/change', { token: user.token }),
    ]);
    expect(answers.map((a) => [a.status, a.body.state ?? a.body.change?.state])).toEqual([
      [200, 'REQUESTED'],
      [200, 'CANCELLED'],
    ]);
    const status = await api.get('/v1/email/change', { token: user.token });
    expect(status.body.change).toMatchObject({ state: 'CANCELLED', confirmations: { new: true, old: false } });
    await replaysWithOneAtATime(user);
  });
});
