import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type pg from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { createActivities } from '../../src/activities';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import type { ChangeStatus } from '../../src/workflows/messages';
import { changeInput, startChangeRun } from '../helpers/workflow-start';
import { linkIn, tokenOf } from '../helpers/flow';
import { startTimeSkippingEnv } from '../helpers/time-skipping';
import { dataConverter } from '../../src/codec/data-converter';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { decodeHistoryInPlace } from '../../src/codec/history-payloads';

/**
 * R-EXPIRE with the DEFAULT lifetimes (EMAIL_CHANGE_TTL=24h, EMAIL_LINK_TTL=1h): on Temporal's
 * time-skipping test server the 24 h durable timer fires in seconds, against the project's real
 * activities, a real PostgreSQL and a real SMTP server.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

let env: TestWorkflowEnvironment;
let smtp: SmtpCapture;
let pool: pg.Pool;
let config: Config;
let worker: Worker;
let workerDone: Promise<void>;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Installed already in this process (Runtime.install throws the second time): keep that one.
  }
  smtp = await startSmtpCapture();
  // Every TTL left at its default.
  config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: inject('databaseUrl'),
    TASK_QUEUE: `test-expiry-${randomUUID()}`,
    SMTP_URL: smtp.url,
    TOKEN_SECRET: 'test-secret-test-secret-test-secret-0123456789',
  });
  expect(config.policy).toMatchObject({ changeTtlMs: DAY_MS, linkTtlMs: 60 * 60 * 1000 });
  const log = createLogger(config.logLevel);
  pool = createPool(config.databaseUrl!, config.databasePoolSize, log);

  // The client and the worker encrypt payloads as the service's do (PAYLOAD_KEYS left at its default).
  env = await startTimeSkippingEnv('default', dataConverter(config.payloadKeys));
  worker = await Worker.create({
    dataConverter: dataConverter(config.payloadKeys),
    connection: env.nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: createActivities({ config, pool, mail: createMailTransport(config.smtpUrl!), log, temporal: env.client }),
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  workerDone = worker.run();
});

afterAll(async () => {
  if (worker) {
    worker.shutdown();
    await workerDone;
  }
  await env?.teardown();
  await Promise.all([pool?.end(), smtp?.stop()]);
});

/** A user row with no email, made the owner of `changeId` as EmailChangeService.start does. */
async function userFor(changeId: string): Promise<{ id: string; username: string }> {
  const username = `expiry-${randomUUID().slice(0, 8)}`;
  const { rows } = await pool.query<{ id: string }>(
    'INSERT INTO users (username, password_hash, current_change_id) VALUES ($1, $2, $3) RETURNING id',
    [username, 'not-a-real-hash', changeId],
  );
  return { id: rows[0]!.id, username };
}

/** Every string in a value, bytes (e.g. payload data) decoded as UTF-8, so a search sees inside payloads. */
function decodedText(value: unknown): string {
  const plain = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object') {
      if (typeof (v as { toNumber?: unknown }).toNumber === 'function') return String(v); // Long
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    }
    return v;
  };
  return JSON.stringify(plain(value));
}

describe('R-EXPIRE with the default 24 h request lifetime (time-skipping test server)', () => {
  it('mails a link, then expires after 24 h: workflow result, PostgreSQL row, 24 h timer, no token in history', async () => {
    const changeId = randomUUID();
    const user = await userFor(changeId);
    const email = `expiry-${randomUUID().slice(0, 8)}@example.com`;
    const input = changeInput({ changeId, userId: user.id, newEmail: email, policy: config.policy }); // no shape: a run as started before shapes
    const handle = await startChangeRun(env.client, config.temporal.taskQueue, input);

    const mail = await smtp.waitForMessage(email);
    expect(mail.subject).toBe('Confirm your email address');
    const token = tokenOf(linkIn(mail));
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);

    // Awaiting the result lets the server skip time to the 24 h deadline.
    const started = Date.now();
    const status: ChangeStatus = await handle.result();
    const realMs = Date.now() - started;
    expect(status).toMatchObject({ id: changeId, state: 'EXPIRED', confirmations: { new: false, old: null }, reason: 'not confirmed before the request expired' });
    expect(new Date(status.expiresAt).getTime() - new Date(status.createdAt).getTime()).toBe(DAY_MS);
    expect(realMs).toBeLessThan(30_000);

    const row = await pool.query('SELECT state, reason, completed_at FROM email_change_requests WHERE id = $1', [changeId]);
    expect(row.rows[0]).toMatchObject({ state: 'EXPIRED', reason: 'not confirmed before the request expired' });
    expect(row.rows[0].completed_at).not.toBeNull();

    const history = await handle.fetchHistory();
    const timers = (history.events ?? [])
      .map((e) => e.timerStartedEventAttributes)
      .filter((t) => t != null)
      .map((t) => Number(t.startToFireTimeout?.seconds?.toString() ?? 0) * 1000 + (t.startToFireTimeout?.nanos ?? 0) / 1e6);
    const deadlineTimer = timers.find((ms) => ms > DAY_MS - 60_000 && ms <= DAY_MS);
    expect(deadlineTimer, `timers in history: ${JSON.stringify(timers)}`).toBeDefined();
    expect((history.events ?? []).some((e) => e.timerFiredEventAttributes != null)).toBe(true);

    // R-TOKEN: only the hash ever reaches the workflow; the mailed token is nowhere in its history.
    // JSON.stringify alone shows payloads base64-encoded (it would not find the token even there),
    // so the history is searched again with every payload decoded; as stored, the address is encrypted.
    expect(JSON.stringify(history)).not.toContain(token);
    expect(decodedText(history)).not.toContain(email);
    const text = decodedText(await decodeHistoryInPlace(history, new EncryptionCodec(config.payloadKeys)));
    expect(text).toContain(email); // the decrypted payloads are searched (the input carries the address)
    expect(text).not.toContain(token);
  });
});
