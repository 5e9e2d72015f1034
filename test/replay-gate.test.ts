import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { buildWorkflowBundle } from '../scripts/build-workflow-bundle';
import { createWorker } from '../src/worker';
import { createMailTransport } from '../src/mail/transport';
import { createLogger } from '../src/log';
import { SKIP_EXPIRED_LINK_MAIL } from '../src/workflows/email-change';
import { workflowIdFor } from '../src/workflows/messages';
import { changeInput, startChangeRun } from './helpers/workflow-start';
import { CODE_MAX_ATTEMPTS } from '../src/verification-codes';
import { startStack, type TestStack } from './helpers/stack';
import { installQuietRuntime } from './helpers/services';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from './helpers/http';
import { startChange, tokenFromMail, waitForStatus } from './helpers/flow';
import { brokenWorkflowBundle } from './helpers/workflow-variant';

/**
 * Safe deploys (issue #13): the worker runs the bundle `npm run build` writes, and `npm run replay`
 * (scripts/replay.ts) replays the namespace's recent runs against a bundle before it is rolled out.
 * Here: a worker started from a freshly built bundle runs real flows on the test server, then the
 * gate runs as a process against that server, with that bundle (passes) and a broken one (fails).
 */

const ROOT = path.resolve(__dirname, '..');
let stack: TestStack;
let api: ApiClient;
let dir: string;
let bundlePath: string;
let worker: { worker: Worker; done: Promise<void>; close(): Promise<void> };
const runs: { workflowId: string; runId: string }[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(inject('tempDir'), 'deploy-'));
  bundlePath = path.join(dir, 'dist', 'workflow-bundle.js');
  await buildWorkflowBundle(bundlePath); // what `npm run build` runs
  stack = await startStack({}, { worker: false });
  api = apiClient(stack.baseUrl);

  installQuietRuntime();
  const connection = await NativeConnection.connect({ address: stack.config.temporal.address! });
  const mail = createMailTransport(stack.config.smtpUrl!, { allowInsecure: stack.config.smtpAllowInsecure });
  const w = await createWorker(connection, { config: stack.config, pool: stack.pool, mail, log: createLogger('silent') }, { workflowBundle: { codePath: bundlePath } });
  worker = {
    worker: w,
    done: w.run(),
    async close() {
      if (w.getState() === 'RUNNING') w.shutdown();
      await this.done.catch(() => undefined);
      mail.close();
      await connection.close().catch(() => undefined);
    },
  };
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await stack?.stop();
});

/** `npm run replay` as a process against the test server, limited to this file's task queue. */
function replayGate(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const query = `TaskQueue = "${stack.env.TASK_QUEUE}"`;
  return new Promise((resolve) => {
    execFile(
      path.join(ROOT, 'node_modules/.bin/tsx'),
      ['scripts/replay.ts', '--since', '1h', '--query', query, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH!, NODE_ENV: 'test', TEMPORAL_ADDRESS: stack.env.TEMPORAL_ADDRESS!, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the prebuilt workflow bundle', () => {
  it('a worker started from the bundle `npm run build` writes runs an add to APPROVED, and a change left open', async () => {
    expect(fs.statSync(bundlePath).size).toBeGreaterThan(100_000);
    for (const confirm of [true, true, false]) {
      const user = await signedInUser(api);
      const email = uniqueEmail('bundle');
      const change = await startChange(api, user, email);
      const token = await tokenFromMail(stack.smtp, email);
      if (confirm) {
        const res = await api.post('/v1/email/verify', { json: { token } });
        expect(res.status, res.text).toBe(200);
        await waitForStatus(api, user, (body) => body.change?.state === 'APPROVED');
      }
      const workflowId = workflowIdFor(user.id);
      runs.push({ workflowId, runId: (await stack.temporal.workflow.getHandle(workflowId).describe()).runId });
      expect(change.state).toBe('REQUESTED');
    }
  });

  it(`a shape-2 run (one in flight from before issue #12's shape 3) records the patch marker of patched('${SKIP_EXPIRED_LINK_MAIL}') and core's TemporalChangeVersion upsert; a shape-3 run takes the same path by its shape, without either`, async () => {
    // The shape-2 run, started as the API of the previous release did (its input pinned shape 2).
    const user = await signedInUser(api);
    const email = uniqueEmail('shape-2');
    const input = changeInput({ changeId: randomUUID(), userId: user.id, newEmail: email, policy: stack.config.policy, shape: 2, verificationCode: { maxAttempts: CODE_MAX_ATTEMPTS } });
    const workflowId = workflowIdFor(user.id);
    const handle = await startChangeRun(stack.temporal, stack.config.temporal.taskQueue, input);
    await tokenFromMail(stack.smtp, email); // its first task ran
    runs.push({ workflowId, runId: handle.firstExecutionRunId });

    const patchesOf = async (run: { workflowId: string; runId: string }) => {
      const history = await stack.temporal.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const markers = history.events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
      const upserts = history.events!.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes);
      return {
        markers: markers.map((m) => Object.values(m.markerRecordedEventAttributes!.details!).flatMap((p) => p.payloads ?? []).map((p) => Buffer.from(p.data ?? []).toString()).join()),
        versionUpserts: upserts.filter((e) => Object.keys(e.upsertWorkflowSearchAttributesEventAttributes!.searchAttributes!.indexedFields!).includes('TemporalChangeVersion')).length,
      };
    };
    const shape2 = await patchesOf(runs[3]!);
    expect(shape2.markers).toHaveLength(1);
    expect(shape2.markers[0]).toContain(SKIP_EXPIRED_LINK_MAIL);
    expect(shape2.versionUpserts).toBe(1);
    expect(await patchesOf(runs[0]!)).toEqual({ markers: [], versionUpserts: 0 });
  });
});

describe('npm run replay (the replay gate)', () => {
  it('the runs are visible to the gate (visibility is eventually consistent)', async () => {
    expect(runs).toHaveLength(4);
    const deadline = Date.now() + 20_000;
    while ((await stack.temporal.workflow.count(`TaskQueue = "${stack.env.TASK_QUEUE}"`)).count < 4) {
      if (Date.now() > deadline) throw new Error('runs never showed in visibility');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('replays every run, the open ones and the shape-2 one included, against the built bundle: exit 0', async () => {
    const { code, stdout, stderr } = await replayGate(['--bundle', bundlePath]);
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toMatch(/4 emailChange run\(s\)/);
    expect(stdout).toMatch(/replayed 4: 4 ok, 0 nondeterministic, 0 failed; 0 undecodable/);
  }, 120_000);

  it('a workflow bundle that breaks the runs: exit 1, naming each nondeterministic run', async () => {
    const broken = await brokenWorkflowBundle(fs.mkdtempSync(path.join(dir, 'broken-')));
    const { code, stdout, stderr } = await replayGate(['--bundle', broken.codePath]);
    expect(code, stdout + stderr).toBe(1);
    expect(stdout).toMatch(/replayed 4: 0 ok, 4 nondeterministic/);
    for (const { workflowId, runId } of runs) expect(stdout).toContain(`NONDETERMINISTIC ${workflowId}/${runId}:`);
  }, 120_000);

  it('histories encrypted with a key PAYLOAD_KEYS lacks: exit 1, each named undecodable, none replayed', async () => {
    const { code, stdout, stderr } = await replayGate(['--bundle', bundlePath], { PAYLOAD_KEYS: `other:${randomBytes(32).toString('base64')}` });
    expect(code, stdout + stderr).toBe(1);
    for (const { workflowId, runId } of runs) expect(stdout).toContain(`UNDECODABLE ${workflowId}/${runId}: encrypted with payload key dev, not in PAYLOAD_KEYS`);
    expect(stdout).toMatch(/replayed 0: .* 4 undecodable/);
  }, 60_000);

  it('bad usage: exit 2', async () => {
    const { code, stderr } = await replayGate(['--since', 'a week']);
    expect(code).toBe(2);
    expect(stderr).toContain('--since takes a duration');
  });
});
