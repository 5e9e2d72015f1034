import { randomUUID } from 'node:crypto';
import { expect, inject } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type pg from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { createActivities } from '../../src/activities';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { CURRENT_SHAPE, verifyUpdate } from '../../src/workflows/messages';
import { changeInput, startChangeRun } from '../helpers/workflow-start';
import { proofOf } from '../../src/tokens';
import { dataConverter } from '../../src/codec/data-converter';
import { startTimeSkippingEnv } from '../helpers/time-skipping';
import { linkIn, tokenOf } from '../helpers/flow';

/**
 * Issue #15's time-skipping tests (undo window, reminder): the project's real workflow and activities
 * on Temporal's time-skipping test server, with a real PostgreSQL and SMTP server; starts runs as the
 * API does (current shape, the configured policy).
 */
export interface SkippingStack {
  env: TestWorkflowEnvironment;
  smtp: SmtpCapture;
  pool: pg.Pool;
  config: Config;
  stop(): Promise<void>;
}

export async function startSkippingStack(overrides: Record<string, string> = {}): Promise<SkippingStack> {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Installed already in this process.
  }
  const smtp = await startSmtpCapture();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: inject('databaseUrl'),
    TASK_QUEUE: `test-skip-${randomUUID()}`,
    SMTP_URL: smtp.url,
    TOKEN_SECRET: 'test-secret-test-secret-test-secret-0123456789',
    ...overrides,
  });
  const log = createLogger(config.logLevel);
  const pool = createPool(config.databaseUrl!, config.databasePoolSize, log);
  const env = await startTimeSkippingEnv('default', dataConverter(config.payloadKeys));
  const worker = await Worker.create({
    dataConverter: dataConverter(config.payloadKeys),
    connection: env.nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: createActivities({ config, pool, mail: createMailTransport(config.smtpUrl!), log, temporal: env.client }),
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  const done = worker.run();
  return {
    env,
    smtp,
    pool,
    config,
    async stop() {
      worker.shutdown();
      await done;
      await env.teardown();
      await Promise.all([pool.end(), smtp.stop()]);
    },
  };
}

/** A user row (optionally with a verified address), made the owner of `changeId` as the API's start does. */
export async function userFor(pool: pg.Pool, changeId: string, verifiedEmail?: string): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO users (username, password_hash, current_change_id, email, email_normalized, email_verified, email_verified_at)
     VALUES ($1, 'not-a-real-hash', $2, $3::text, lower($3::text), $3::text IS NOT NULL, CASE WHEN $3::text IS NULL THEN NULL ELSE now() END) RETURNING id`,
    [`skip-${randomUUID().slice(0, 8)}`, changeId, verifiedEmail ?? null],
  );
  return rows[0]!.id;
}

/** Starts the user's run like POST /v1/email/change (UPDATE when `oldEmail` is the user's verified address). */
export async function startRun(s: SkippingStack, args: { changeId: string; userId: string; newEmail: string; oldEmail?: string }) {
  // requestedAt: the test server's clock, which env.sleep() moves on.
  const input = changeInput({ ...args, policy: s.config.policy, requestedAt: await s.env.currentTimeMs(), shape: CURRENT_SHAPE });
  return startChangeRun(s.env.client, s.config.temporal.taskQueue, input);
}

/** Confirms the new address with the token of mail number `index` to it. */
export async function confirmNew(s: SkippingStack, handle: Awaited<ReturnType<typeof startRun>>, changeId: string, newEmail: string, index = 0) {
  const token = tokenOf(linkIn(await s.smtp.waitForMessage(newEmail, { seen: index })));
  const result = await handle.executeUpdate(verifyUpdate, { args: [{ changeId, purpose: 'new', proof: proofOf(token) }] });
  expect(result.status.state).toBe('APPROVED');
}

/** The durations (ms) of every timer the run started. */
export async function timersOf(handle: Awaited<ReturnType<typeof startRun>>): Promise<number[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.timerStartedEventAttributes)
    .filter((t) => t != null)
    .map((t) => Number(t.startToFireTimeout?.seconds?.toString() ?? 0) * 1000 + Math.round((t.startToFireTimeout?.nanos ?? 0) / 1e6));
}
