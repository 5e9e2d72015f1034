import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkQuery, statusQuery, verifyUpdate, type ChangeStatus } from '../../src/workflows/messages';
import { proofOf } from '../../src/tokens';
import { uniqueEmail } from '../helpers/http';
import { linkIn, tokenOf } from '../helpers/flow';
import { startRun, startSkippingStack, timersOf, userFor, type SkippingStack } from './time-skipping-stack';

/**
 * Issue #15 item 6 with the default REMINDER_BEFORE_EXPIRY (2 h) and EMAIL_CHANGE_TTL (24 h), on the
 * run's own timers (time-skipping test server): at 22 h an unconfirmed request mails one reminder with
 * a fresh link (the earlier link stops working like after a resend; no resend is spent); at 24 h the
 * request lapses and the new address is told. EMAIL_LINK_TTL=24h keeps the first link alive until the reminder.
 */

const HOUR_MS = 60 * 60 * 1000;
let s: SkippingStack;
// Both runs start before the clock moves (the activities' clock is the real one).
let first: Awaited<ReturnType<typeof started>>;
let second: Awaited<ReturnType<typeof started>>;

async function started() {
  const changeId = randomUUID();
  const newEmail = uniqueEmail('reminder');
  const userId = await userFor(s.pool, changeId);
  const handle = await startRun(s, { changeId, userId, newEmail });
  const firstToken = tokenOf(linkIn(await s.smtp.waitForMessage(newEmail)));
  return { changeId, newEmail, handle, firstToken };
}

beforeAll(async () => {
  s = await startSkippingStack({ EMAIL_LINK_TTL: '24h' });
  expect(s.config.policy).toMatchObject({ reminderBeforeExpiryMs: 2 * HOUR_MS, changeTtlMs: 24 * HOUR_MS, expiryNotice: true });
  first = await started();
  second = await started();
});
afterAll(() => s?.stop());

describe('REMINDER_BEFORE_EXPIRY and the lapse mail (time-skipping test server)', () => {
  it('at 22 h: one reminder with a fresh link; the earlier link is "resent"; resends untouched; the fresh link confirms', async () => {
    const { changeId, newEmail, handle, firstToken } = first;
    await s.env.sleep(23 * HOUR_MS);
    const reminder = await s.smtp.waitForMessage(newEmail, { seen: 1 });
    expect(reminder.subject).toBe('Reminder: your email change is waiting for confirmation');
    expect(reminder.text).toMatch(/This request expires on .* unless it is confirmed/);
    const freshToken = tokenOf(linkIn(reminder));
    expect(freshToken).not.toBe(firstToken);

    const old = await handle.query(linkQuery, { changeId, purpose: 'new', proof: proofOf(firstToken) });
    expect(old).toMatchObject({ ok: false, reason: 'resent' });
    expect(await handle.query(linkQuery, { changeId, purpose: 'new', proof: proofOf(freshToken) })).toMatchObject({ ok: true });
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ state: 'REQUESTED', resendsLeft: s.config.policy.maxResends });
    const row = await s.pool.query('SELECT resends FROM email_change_requests WHERE id = $1', [changeId]);
    expect(row.rows[0].resends).toBe(0);

    const confirmed = await handle.executeUpdate(verifyUpdate, { args: [{ changeId, purpose: 'new', proof: proofOf(freshToken) }] });
    expect(confirmed.status.state).toBe('APPROVED');
    await handle.result();
    expect(s.smtp.messagesTo(newEmail)).toHaveLength(2); // the request mail and one reminder; no lapse mail
  });

  it('at 24 h: EXPIRED, and the new address gets the mail saying it lapsed (after exactly one reminder)', async () => {
    const { changeId, newEmail, handle } = second;
    const status: ChangeStatus = await handle.result();
    expect(status).toMatchObject({ id: changeId, state: 'EXPIRED' });
    const subjects = s.smtp.messagesTo(newEmail).map((m) => m.subject);
    expect(subjects).toEqual(['Confirm your email address', 'Reminder: your email change is waiting for confirmation', 'Your email change request expired']);
    const lapsed = s.smtp.messagesTo(newEmail)[2]!;
    expect(lapsed.text).toContain(newEmail);
    expect(lapsed.links.filter((l) => new URL(l).pathname === '/verify-email')).toEqual([]); // no link in it
    const timers = await timersOf(handle);
    // One timer at a time (issue #12, shape 3): 22 h to the reminder, then the 2 h left to the deadline.
    expect(timers, `timers: ${JSON.stringify(timers)}`).toHaveLength(2);
    expect(timers[0]! > 22 * HOUR_MS - 60_000 && timers[0]! <= 22 * HOUR_MS, `timers: ${JSON.stringify(timers)}`).toBe(true);
    expect(timers[1]! > 2 * HOUR_MS - 60_000 && timers[1]! <= 2 * HOUR_MS, `timers: ${JSON.stringify(timers)}`).toBe(true);
  });
});

describe('REMINDER_BEFORE_EXPIRY=0 and EXPIRY_NOTICE=false', () => {
  it('no reminder and no lapse mail', async () => {
    const off = await startSkippingStack({ REMINDER_BEFORE_EXPIRY: '0', EXPIRY_NOTICE: 'false' });
    try {
      const changeId = randomUUID();
      const newEmail = uniqueEmail('no-reminder');
      const handle = await startRun(off, { changeId, userId: await userFor(off.pool, changeId), newEmail });
      await off.smtp.waitForMessage(newEmail);
      expect((await handle.result()).state).toBe('EXPIRED');
      expect(off.smtp.messagesTo(newEmail)).toHaveLength(1);
    } finally {
      await off.stop();
    }
  });
});
