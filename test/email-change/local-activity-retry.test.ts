import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { loadConfig } from '../../src/config';
import { createActivities, type Activities } from '../../src/activities';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { CURRENT_SHAPE, workflowIdFor } from '../../src/workflows/messages';
import { changeInput } from '../helpers/workflow-start';

/**
 * Issue #12's shape 3 folds steps into one local activity each: the start's record + first links
 * (startRequest), and the approval + undo link (applyEmailChange). A local activity is retried when
 * its worker dies after its writes and before the answer reaches the run: the retry must hand back
 * what the first try made (the same links, the same undo link), or the run would hold verifiers of
 * links nobody was mailed, or no window for the link its notice mails. Against the real PostgreSQL,
 * the activities called as the worker calls them.
 */
type Applied = Awaited<ReturnType<Activities['applyEmailChange']>>;
type Started = Awaited<ReturnType<Activities['startRequest']>>;

let pool: pg.Pool;
let acts: Activities;
let policy: ReturnType<typeof loadConfig>['policy'];
beforeAll(() => {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: inject('databaseUrl'),
    SMTP_URL: 'smtp://127.0.0.1:1',
    TOKEN_SECRET: 'test-secret-test-secret-test-secret-0123456789',
  });
  const log = createLogger('silent');
  pool = createPool(config.databaseUrl!, 3, log); // 3: the overlap test holds one for the earlier try, the activity one, the poll one
  policy = config.policy;
  acts = createActivities({ config, pool, mail: createMailTransport(config.smtpUrl!), log });
});
afterAll(() => pool?.end());

/** A user whose verified address is `old`, with a change to `next` recorded and both addresses confirmed. */
async function confirmedChange(): Promise<{ userId: string; changeId: string }> {
  const suffix = randomUUID().slice(0, 8);
  const old = `old-${suffix}@example.test`;
  const next = `new-${suffix}@example.test`;
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO users (username, password_hash, email, email_normalized, email_verified, email_verified_at) VALUES ($1, NULL, $2, $2, true, now()) RETURNING id`,
    [`apply-retry-${suffix}`, old],
  );
  const userId = rows[0]!.id;
  const changeId = randomUUID();
  await pool.query(
    `INSERT INTO email_change_requests (id, user_id, workflow_id, kind, old_email, new_email, new_email_normalized, needs_old_confirmation,
       state, expires_at, created_at, last_send_at, resend_cooldown_ms, max_resends)
     VALUES ($1, $2, $3, 'UPDATE', $4, $5, $5, true, 'REQUESTED', now() + interval '1 hour', now(), now(), 60000, 3)`,
    [changeId, userId, workflowIdFor(userId), old, next],
  );
  await pool.query('UPDATE users SET current_change_id = $2 WHERE id = $1', [userId, changeId]);
  return { userId, changeId };
}

describe('applyEmailChange with the undo window (shape 3)', () => {
  it('a retry after a committed try answers APPROVED with the same undo link, and the window keeps its first end', async () => {
    const { userId, changeId } = await confirmedChange();
    const now = Date.now();
    const progress = { newConfirmedAt: now, oldConfirmedAt: now, resends: 0, delivery: { new: { status: 'sent' as const, attempts: 1 }, old: { status: 'sent' as const, attempts: 1 } } };
    const args = { changeId, userId, progress, revertUntil: now + 3_600_000 };

    const first = (await new MockActivityEnvironment().run(acts.applyEmailChange, args)) as Applied;
    expect(first.state).toBe('APPROVED');
    expect(first.revert?.verifier).toMatch(/\S{20,}/);

    const retried = await new MockActivityEnvironment({ attempt: 2 }).run(acts.applyEmailChange, args);
    expect(retried).toEqual(first);

    const row = await pool.query<{ until: Date; notices: string }>(
      `SELECT r.revert_until AS until, (SELECT count(*) FROM mail_messages WHERE change_id = r.id AND kind = 'notice') AS notices FROM email_change_requests r WHERE r.id = $1`,
      [changeId],
    );
    expect(row.rows[0]!.until.getTime()).toBe(args.revertUntil);
    expect(Number(row.rows[0]!.notices)).toBe(1);
  });

  it('without a window asked for, the answer carries no undo link and none is made', async () => {
    const { userId, changeId } = await confirmedChange();
    const now = Date.now();
    const progress = { newConfirmedAt: now, oldConfirmedAt: now, resends: 0, delivery: { new: { status: 'sent' as const, attempts: 1 } } };
    const applied = (await new MockActivityEnvironment().run(acts.applyEmailChange, { changeId, userId, progress })) as Applied;
    expect(applied).toEqual({ state: 'APPROVED', reason: null });
    const notices = await pool.query('SELECT 1 FROM mail_messages WHERE change_id = $1', [changeId]);
    expect(notices.rowCount).toBe(0);
  });
});

describe('startRequest (shape 3)', () => {
  it('a retry after a try whose answer was lost answers the same record, the same links (and typed codes), and writes nothing twice', async () => {
    const { userId, changeId: earlier } = await confirmedChange(); // a verified address: the change needs both links
    await pool.query('UPDATE email_change_requests SET run_started_at = now() WHERE id = $1', [earlier]);
    const changeId = randomUUID();
    const input = changeInput({ changeId, userId, newEmail: `next-${changeId.slice(0, 8)}@example.test`, oldEmail: (await pool.query('SELECT email FROM users WHERE id = $1', [userId])).rows[0].email, policy, shape: CURRENT_SHAPE, verificationCode: { maxAttempts: 5 } });
    const env = (attempt: number) => new MockActivityEnvironment({ attempt, workflowExecution: { workflowId: workflowIdFor(userId), runId: randomUUID() } });
    const runStartedAt = Date.now() + 60_000; // well after the user's earlier request's run: no Temporal call to decide
    const opts = { code: true, windows: true };

    const first = (await env(1).run(acts.startRequest, input, runStartedAt, opts)) as Started;
    expect(first).toMatchObject({ recorded: true, kind: 'UPDATE', confirmOld: true, openWindows: [] });
    expect(first.links.new?.verifier).toBeTruthy();
    expect(first.links.old?.verifier).toBeTruthy();
    expect(first.links.new?.codeVerifier).not.toBe(first.links.old?.codeVerifier);

    const retried = (await env(2).run(acts.startRequest, input, runStartedAt, opts)) as Started;
    expect(retried).toEqual(first);
    const rows = await pool.query<{ n: string }>('SELECT count(*) AS n FROM mail_messages WHERE change_id = $1', [changeId]);
    expect(Number(rows.rows[0]!.n)).toBe(2);
  });
});

describe('prepareVerificationLink', () => {
  it('a try overlapping an earlier try still in flight answers the link that try made, not a second one', async () => {
    const { changeId } = await confirmedChange();
    const messageKey = `${changeId}:new:1`;
    const linkExpiresAt = new Date(Date.now() + 600_000);
    // The earlier try's insert, not yet committed when the later try's statement starts.
    const earlier = await pool.connect();
    try {
      await earlier.query('BEGIN');
      await earlier.query(
        `INSERT INTO mail_messages (message_key, change_id, kind, recipient, token_verifier, link_expires_at) VALUES ($1, $2, 'verify-new', 'x@example.test', 'earlier-try', $3)`,
        [messageKey, changeId, linkExpiresAt],
      );
      const later = new MockActivityEnvironment({ attempt: 2 }).run(acts.prepareVerificationLink, { messageKey, changeId, purpose: 'new' as const, to: 'x@example.test', linkTtlMs: 600_000 });
      // It waits on the earlier try's row; once that commits, its own snapshot cannot see the row.
      for (let i = 0; i < 100; i++) {
        const waiting = await pool.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%WITH made AS%'`);
        if (waiting.rowCount) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await earlier.query('COMMIT');
      expect(await later).toEqual({ verifier: 'earlier-try', linkExpiresAt: linkExpiresAt.getTime() });
    } finally {
      earlier.release();
    }
    const rows = await pool.query('SELECT 1 FROM mail_messages WHERE message_key = $1', [messageKey]);
    expect(rows.rowCount).toBe(1);
  });
});
