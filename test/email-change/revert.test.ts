import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { PASSWORD_PROOF, startChange, tokenFromMail } from '../helpers/flow';
import { approvedChange, pressUndo, undoLinkIn } from './revert-flow';

/**
 * Issue #15 item 4 over HTTP, with the default REVERT_WINDOW (7 days) and REVERT_LOCK (72 h): the
 * change notice carries an undo link; GET shows a page and changes nothing; the button restores the
 * old address, revokes every session and device key, blocks new changes and tells both addresses;
 * a new start during the window does not end it; `npm run change -- unblock` lifts the block.
 */

const ROOT = path.resolve(__dirname, '../..');
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const me = (user: TestUser) => api.get('/v1/me', { token: user.token });
const signIn = async (user: TestUser) => (await api.post('/v1/sessions', { json: { username: user.username, password: user.password } })).body.token as string;
const tryStart = (user: TestUser, email: string) => api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) } });

describe("issue #15 item 4: undo for the old address (\"this wasn't me\")", () => {
  it('notice with the link → GET page changes nothing → POST restores, revokes, blocks, mails both; a second press is harmless', async () => {
    const { user, oldEmail, newEmail, changeId, notice } = await approvedChange(stack, api, 'undo');
    expect(notice.subject).toBe('Your account email was changed');
    expect(notice.text).toMatch(/undo the change with the link below before/);
    const link = undoLinkIn(notice);
    expect(link.startsWith(`${stack.baseUrl}/undo-email-change?token=`)).toBe(true);
    // The notice still carries no link for the new address.
    expect(notice.links.some((l) => new URL(l).pathname === '/verify-email')).toBe(false);
    // A device key of the account (as POST /v1/devices stores it) that the undo must revoke.
    await stack.pool.query(`INSERT INTO devices (user_id, name, public_key) VALUES ($1, 'phone', '{"kty":"EC"}')`, [user.id]);

    // A scanner's GET: a page with the button, nothing changed.
    for (let i = 0; i < 2; i++) {
      const peek = await fetch(link);
      const html = await peek.text();
      expect(peek.status).toBe(200);
      expect(html).toContain('Undo the change of your account email?');
      expect(html).toContain(`<button type="submit">This wasn&#39;t me: undo the change</button>`);
      expect(html).not.toContain(newEmail); // masked
    }
    expect((await me(user)).body).toMatchObject({ email: newEmail, emailVerified: true });
    // A verification page refuses the undo token (a token of another purpose), and the undo page refuses a tampered one.
    const token = new URL(link).searchParams.get('token')!;
    expect((await fetch(`${stack.baseUrl}/verify-email?token=${token}`)).status).toBe(400);
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await fetch(`${stack.baseUrl}/undo-email-change?token=${tampered}`)).status).toBe(400);
    expect((await pressUndo(`${stack.baseUrl}/undo-email-change?token=${tampered}`)).status).toBe(400);

    const pressed = await pressUndo(link);
    expect(pressed.status, pressed.html).toBe(200);
    expect(pressed.html).toContain('The change was undone');
    expect(pressed.html).toContain(oldEmail);
    expect(pressed.html).toMatch(/Email changes are paused until/);

    // Every session is gone (the one that asked for the change too); signing in again shows the old address.
    expect((await me(user)).status).toBe(401);
    user.token = await signIn(user);
    const profile = (await me(user)).body;
    expect(profile).toMatchObject({ email: oldEmail, emailVerified: true, pendingChange: null });
    expect(profile.previousEmails.map((p: { email: string }) => p.email)).toContain(newEmail);
    const devices = await stack.pool.query('SELECT count(*)::int AS n FROM devices WHERE user_id = $1 AND revoked_at IS NULL', [user.id]);
    expect(devices.rows[0].n).toBe(0);
    const row = await stack.pool.query('SELECT state, reverted_at FROM email_change_requests WHERE id = $1', [changeId]);
    expect(row.rows[0].state).toBe('APPROVED');
    expect(row.rows[0].reverted_at).not.toBeNull();

    // Both addresses hear of it.
    const toOld = await stack.smtp.waitForMessage(oldEmail, { seen: 3 });
    expect(toOld.subject).toBe('The change of your account email was undone');
    expect(toOld.text).toMatch(/Email changes on the account are paused until/);
    const toNew = await stack.smtp.waitForMessage(newEmail, { seen: 1 });
    expect(toNew.subject).toBe('The email change to this address was undone');

    // Blocked: a new change is 423 CHANGE_BLOCKED (before any re-authentication is spent).
    const blocked = await tryStart(user, uniqueEmail('after-undo'));
    expect(blocked.status, blocked.text).toBe(423);
    expect(blocked.body.error.code).toBe('CHANGE_BLOCKED');
    expect(Date.parse(blocked.body.error.details.blockedUntil) - Date.now()).toBeGreaterThan(71 * 3600_000);

    // A second press, and the GET afterwards, say it is done; nothing more happens.
    const again = await pressUndo(link);
    expect(again.html).toContain('Already undone');
    expect(await (await fetch(link)).text()).toContain('Already undone');
    expect(stack.smtp.messagesTo(oldEmail)).toHaveLength(4);

    // Support lifts the block.
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/change.ts', ...args], { cwd: ROOT, env: { ...process.env, ...stack.env } }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );
    expect(await run(['unblock', user.id])).toMatchObject({ code: 0, out: expect.stringContaining('unblocked') });
    expect(await run(['unblock', user.id])).toMatchObject({ code: 3 });
    expect(await run(['unblock', 'not-a-uuid'])).toMatchObject({ code: 2 });
    const next = uniqueEmail('unblocked');
    expect((await tryStart(user, next)).status).toBe(202);
  });

  it('a new start during the window does not end it: the newer run holds it, and an undo then ends the pending request too', async () => {
    const { user, oldEmail, newEmail, notice } = await approvedChange(stack, api, 'adopt');
    const link = undoLinkIn(notice);
    const third = uniqueEmail('adopt-third');
    const pending = await startChange(api, user, third);
    expect(pending).toMatchObject({ state: 'REQUESTED', oldEmail: newEmail });
    await tokenFromMail(stack.smtp, third); // its link went out

    expect(await (await fetch(link)).text()).toContain('Undo the change of your account email?');
    const pressed = await pressUndo(link);
    expect(pressed.html, pressed.html).toContain('The change was undone');
    user.token = await signIn(user);
    expect((await me(user)).body).toMatchObject({ email: oldEmail, emailVerified: true, pendingChange: null });
    const status = (await api.get('/v1/email/change', { token: user.token })).body.change;
    expect(status).toMatchObject({ id: pending.id, state: 'CANCELLED', reason: 'the account was restored to its previous address' });
  });

  it('an undo link from a run with REVERT_WINDOW=0 does not exist: the notice has no link', async () => {
    const off = await startStack({ REVERT_WINDOW: '0' });
    try {
      const { notice } = await approvedChange(off, apiClient(off.baseUrl), 'nowindow');
      expect(notice.links.filter((l) => new URL(l).pathname === '/undo-email-change')).toEqual([]);
      expect(notice.text).toMatch(/contact support at once/);
    } finally {
      await off.stop();
    }
  });
});
