import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { loadConfig } from '../../src/config';
import { createActivities, type Activities } from '../../src/activities';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { workflowIdFor } from '../../src/workflows/messages';

/**
 * Issue #12's shape 3 makes an approved change's undo link in applyEmailChange's own transaction. A
 * local activity is retried when its worker dies after the commit and before the answer reaches the
 * run: the retry must hand back the same undo link, or the run would hold no window for the link
 * its notice then mails. Against the real PostgreSQL, the activity called as the worker calls it.
 */
type Applied = Awaited<ReturnType<Activities['applyEmailChange']>>;

let pool: pg.Pool;
let acts: Activities;
beforeAll(() => {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: inject('databaseUrl'),
    SMTP_URL: 'smtp://127.0.0.1:1',
    TOKEN_SECRET: 'test-secret-test-secret-test-secret-0123456789',
  });
  const log = createLogger('silent');
  pool = createPool(config.databaseUrl!, 2, log);
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
