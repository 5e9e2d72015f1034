import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@temporalio/client';
import { dataConverter } from '../../src/codec/data-converter';
import { RevertService } from '../../src/email-change/revert';
import { AppError } from '../../src/api/errors';
import { revertUpdate, type ChangeStatus } from '../../src/workflows/messages';
import { proofOf } from '../../src/tokens';
import { uniqueEmail } from '../helpers/http';
import { undoLinkIn } from './revert-flow';
import { confirmNew, startRun, startSkippingStack, timersOf, userFor, type SkippingStack } from './time-skipping-stack';

/**
 * Issue #15 item 4 with the DEFAULT REVERT_WINDOW (7 days), on the run's own durable timer, on
 * Temporal's time-skipping test server: the undo link works on day 6; after day 7 the run has
 * completed and the link is dead. CONFIRM_OLD_EMAIL=false so one confirmation approves the change.
 */

const DAY_MS = 24 * 60 * 60 * 1000;
let s: SkippingStack;
// Both changes are approved before the clock moves (the activities' clock is the real one; links made
// after a skip would look expired to the run): A's link is used on day 6, B's is tried after day 7.
let a: Awaited<ReturnType<typeof approved>>;
let b: Awaited<ReturnType<typeof approved>>;
beforeAll(async () => {
  s = await startSkippingStack({ CONFIRM_OLD_EMAIL: 'false' });
  expect(s.config.policy.revertWindowMs).toBe(7 * DAY_MS);
  a = await approved();
  b = await approved();
});
afterAll(() => s?.stop());

async function approved() {
  const changeId = randomUUID();
  const oldEmail = uniqueEmail('window-old');
  const newEmail = uniqueEmail('window-new');
  const userId = await userFor(s.pool, changeId, oldEmail);
  const handle = await startRun(s, { changeId, userId, newEmail, oldEmail });
  await confirmNew(s, handle, changeId, newEmail);
  const notice = await s.smtp.waitForMessage(oldEmail);
  const token = new URL(undoLinkIn(notice)).searchParams.get('token')!;
  return { changeId, userId, oldEmail, newEmail, handle, token };
}

describe('REVERT_WINDOW: 7 days on the run of the change (time-skipping test server)', () => {
  it('on day 6 the link works: the old address is back, and the run completes', async () => {
    const { changeId, userId, oldEmail, newEmail, handle, token } = a;
    const { rows } = await s.pool.query('SELECT email FROM users WHERE id = $1', [userId]);
    expect(rows[0].email).toBe(newEmail);

    await s.env.sleep(6 * DAY_MS);
    expect((await handle.describe()).status.name).toBe('RUNNING'); // the run held the window all along
    const result = await handle.executeUpdate(revertUpdate, { args: [{ changeId, proof: proofOf(token) }] });
    expect(result).toMatchObject({ alreadyReverted: false, restoredEmail: oldEmail });

    // Awaited through a plain client: the time-skipping client's result() lets the server skip time while it
    // waits, and between A's last activity and its completion it may skip to B's window end (the likely cause of one CI failure).
    const status: ChangeStatus = await new Client({ connection: s.env.connection, namespace: s.config.temporal.namespace, dataConverter: dataConverter(s.config.payloadKeys) })
      .workflow.getHandle(handle.workflowId)
      .result();
    expect(status).toMatchObject({ id: changeId, state: 'APPROVED' });
    const after = await s.pool.query('SELECT email, email_verified, email_change_blocked_until FROM users WHERE id = $1', [userId]);
    expect(after.rows[0]).toMatchObject({ email: oldEmail, email_verified: true });
    expect(after.rows[0].email_change_blocked_until).not.toBeNull();
    expect((await s.smtp.waitForMessage(oldEmail, { seen: 1 })).subject).toBe('The change of your account email was undone');
    expect((await s.smtp.waitForMessage(newEmail, { seen: 1 })).subject).toBe('The email change to this address was undone');
  });

  it('after day 7 the run has completed on its 7-day timer and the link is dead', async () => {
    const { changeId, userId, newEmail, handle, token } = b;
    expect((await handle.describe()).status.name).toBe('RUNNING'); // day 6 (the first test's skip): still open
    const started = Date.now();
    const status: ChangeStatus = await handle.result(); // the server skips to the window's end
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(status).toMatchObject({ id: changeId, state: 'APPROVED' });
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    const timers = await timersOf(handle);
    expect(timers.some((ms) => ms > 7 * DAY_MS - 60_000 && ms <= 7 * DAY_MS), `timers: ${JSON.stringify(timers)}`).toBe(true);

    // The API's undo: no run holds the window any more → LINK_EXPIRED, and nothing changed.
    const service = new RevertService(s.pool, s.env.client, s.config.tokenKeys);
    const refused = await service.revert(token).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ status: 410, code: 'LINK_EXPIRED' });
    const { rows } = await s.pool.query('SELECT email, email_change_blocked_until FROM users WHERE id = $1', [userId]);
    expect(rows[0]).toMatchObject({ email: newEmail, email_change_blocked_until: null });
  });
});
