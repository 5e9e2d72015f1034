import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { PASSWORD_PROOF, startChange, tokenFromMail, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { eventually } from '../helpers/services';
import { DEV_RETENTION_MS } from '../../src/dev/temporal';
import { eraseAddressHistory, ErasureRefusedError } from '../../src/privacy/erasure';
import { exportAddressHistory, type AddressExport } from '../../src/privacy/export';
import { workflowIdFor } from '../../src/workflows/messages';
import { approvedChange, pressUndo, undoLinkIn } from '../email-change/revert-flow';

/** Issue #10 item 5: a user's address history is exported and erased on request (GDPR), against real servers. */

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

/** This file's stack runs short undo windows, so an approved change's run closes by itself within the test. */
const SHORT_REVERT_WINDOW = '3s';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ REVERT_WINDOW: SHORT_REVERT_WINDOW });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

/** The CLI as an operator runs it: its own process, configured by the environment. */
async function privacyCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'scripts/privacy.ts', ...args], { cwd: ROOT, env: { ...process.env, ...stack.env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Rows in every table of the database whose text contains `needle`, by table (none: `{}`). */
async function rowsContaining(needle: string): Promise<Record<string, number>> {
  const tables = await stack.pool.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
  expect(tables.rows.map((t) => t.name)).toEqual(expect.arrayContaining(['users', 'email_history', 'email_change_requests', 'mail_messages', 'idempotency_keys']));
  const found: Record<string, number> = {};
  for (const { name } of tables.rows) {
    const { rows } = await stack.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${name}" t WHERE strpos(lower(t::text), lower($1)) > 0`, [needle]);
    if (Number(rows[0]!.n) > 0) found[name] = Number(rows[0]!.n);
  }
  return found;
}

/** Waits until the notice to the old address of change `changeId` is recorded as sent. */
const noticeSent = (on: TestStack, changeId: string) =>
  eventually(
    async () => ((await on.pool.query("SELECT 1 FROM mail_messages WHERE message_key = $1 AND status = 'sent'", [`${changeId}:notice`])).rowCount ? true : undefined),
    30_000,
    'the notice to the old address',
  );

/** A user who added `first`, then changed to `second` (both confirmed), with the notice to `first` sent. */
async function userWithAChange(tag: string): Promise<{ user: TestUser; first: string; second: string }> {
  const { user, email: first } = await userWithVerifiedEmail(api, stack.smtp, `${tag}-first`);
  const second = uniqueEmail(`${tag}-second`);
  // With an Idempotency-Key: the stored answer repeats both addresses, so erasure must reach it too.
  const started = await api.post('/v1/email/change', { token: user.token, headers: { 'idempotency-key': `erase-${tag}` }, json: { email: second, auth: PASSWORD_PROOF(user) } });
  expect(started.status, started.text).toBe(202);
  expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, second) } })).status).toBe(200);
  expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, first, 1) } })).status).toBe(200);
  await waitForStatus(api, user, (b) => b.change?.state === 'APPROVED');
  await noticeSent(stack, started.body.change.id);
  return { user, first, second };
}

describe('privacy: export and erase a user\'s address history (issue #10)', () => {
  it('export lists the account, previous addresses, requests and mails; erase removes every trace of the old address, the account still works', async () => {
    const { user, first, second } = await userWithAChange('gdpr');

    const cli = await privacyCli('export', user.id);
    expect(cli.code, cli.stderr).toBe(0);
    const exported = JSON.parse(cli.stdout) as AddressExport;
    expect(exported.account).toMatchObject({ username: user.username, email: second, emailVerified: true });
    expect(exported.previousEmails).toEqual([expect.objectContaining({ email: first, wasVerified: true })]);
    expect(exported.changeRequests.map((r) => [r.kind, r.state, r.oldEmail, r.newEmail])).toEqual([
      ['ADD', 'APPROVED', null, first],
      ['UPDATE', 'APPROVED', first, second],
    ]);
    expect(exported.mails.map((m) => [m.kind, m.recipient, m.status])).toEqual(
      expect.arrayContaining([
        ['verify-new', first, 'sent'],
        ['verify-new', second, 'sent'],
        ['verify-old', first, 'sent'],
        ['notice', first, 'sent'],
      ]),
    );
    expect(exported.mails.every((m) => typeof m.sentAt === 'string')).toBe(true);
    expect(await rowsContaining(first)).toMatchObject({ email_history: 1, email_change_requests: 2, mail_messages: 3, idempotency_keys: 1 });

    // The change's undo window (REVERT_WINDOW, short here) holds its run open; once it has passed the run closes and erasure may go on.
    await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).result();
    const erased = await eraseAddressHistory(stack.pool, user.id);
    expect(erased).toMatchObject({ previousEmails: 1, changeRequests: 2, mails: 4, idempotencyKeys: 1, accountDeleted: false });

    // The old address is nowhere in the database; the current one only on the account itself.
    expect(await rowsContaining(first)).toEqual({});
    expect(await rowsContaining(second)).toEqual({ users: 1 });

    const after = await exportAddressHistory(stack.pool, user.id);
    expect(after.previousEmails).toEqual([]);
    expect(after.changeRequests.map((r) => [r.kind, r.state, r.oldEmail, r.newEmail, typeof r.erasedAt])).toEqual([
      ['ADD', 'APPROVED', null, null, 'string'],
      ['UPDATE', 'APPROVED', null, null, 'string'],
    ]);
    expect(after.mails.map((m) => m.recipient)).toEqual([null, null, null, null]);

    const session = await api.post('/v1/sessions', { json: { username: user.username, password: user.password } });
    expect(session.status).toBe(201);
    const me = await api.get('/v1/me', { token: session.body.token });
    expect(me.body).toMatchObject({ email: second, emailVerified: true, previousEmails: [] });
    const status = await api.get('/v1/email/change', { token: session.body.token });
    expect(status.status).toBe(200);
    expect(status.text).not.toContain(first);

    // An erasure of erased data does nothing more; the old address can be added again, by anyone.
    expect(await eraseAddressHistory(stack.pool, user.id)).toMatchObject({ previousEmails: 0, changeRequests: 0, mails: 0 });
  });

  it('refuses while a change is pending (nothing is touched), and erases once it is cancelled', async () => {
    const user = await signedInUser(api);
    const pending = uniqueEmail('pending');
    await startChange(api, user, pending);
    await tokenFromMail(stack.smtp, pending);

    await expect(eraseAddressHistory(stack.pool, user.id)).rejects.toThrow(ErasureRefusedError);
    const cli = await privacyCli('erase', user.id);
    expect(cli.code).toBe(3);
    expect(cli.stderr).toMatch(/is pending/);
    expect(await rowsContaining(pending)).toMatchObject({ email_change_requests: 1, mail_messages: 1 });
    expect((await api.get('/v1/email/change', { token: user.token })).body.change).toMatchObject({ state: 'REQUESTED', newEmail: pending });

    expect((await api.delete('/v1/email/change', { token: user.token })).status).toBe(200);
    // The run records CANCELLED right after answering; the erasure goes through once it has.
    expect(await eventually(() => eraseAddressHistory(stack.pool, user.id), 20_000, 'erasure after the cancel')).toMatchObject({ changeRequests: 1, mails: 1 });
    expect(await rowsContaining(pending)).toEqual({});
  });

  it('refuses while an approved change\'s undo window holds its run open (the run still holds both addresses), and erases once the run has closed', async () => {
    // The default REVERT_WINDOW (7 days): the run stays open all that time unless the old address undoes the change.
    const open = await startStack();
    try {
      const { user, oldEmail, newEmail, changeId, notice } = await approvedChange(open, apiClient(open.baseUrl), 'erase-undo');
      await noticeSent(open, changeId);
      const handle = open.temporal.workflow.getHandle(workflowIdFor(user.id));
      expect((await handle.describe()).status.name).toBe('RUNNING');
      const { rows } = await open.pool.query<{ until: Date }>('SELECT revert_until AS until FROM email_change_requests WHERE id = $1', [changeId]);
      expect(rows[0]!.until.getTime() - Date.now()).toBeGreaterThan(6 * 24 * 3600_000);

      const refused = await eraseAddressHistory(open.pool, user.id).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(ErasureRefusedError);
      expect(refused).toMatchObject({ reason: 'UNDO_WINDOW_OPEN', changeId, until: rows[0]!.until });
      expect((refused as Error).message).toContain(`undo window is open until ${rows[0]!.until.toISOString()}`);
      for (const args of [['erase', user.id], ['erase', user.id, '--account']]) {
        const cli = await privacyCli(...args);
        expect(cli.code, cli.stderr).toBe(3);
        expect(cli.stderr).toMatch(/undo window is open until .*erase after/);
      }
      // Nothing was touched: the addresses are all still there, the account too.
      expect(await rowsContaining(oldEmail)).toMatchObject({ email_history: 1, email_change_requests: 2, mail_messages: 3 });
      expect((await exportAddressHistory(open.pool, user.id)).account).toMatchObject({ email: newEmail });

      // The old address undoes the change: the run tells both addresses and closes; now the erasure goes through.
      const pressed = await pressUndo(undoLinkIn(notice));
      expect(pressed.status, pressed.html).toBe(200);
      await handle.result();
      // Previous addresses: the old one (replaced by the change) and the new one (replaced by the undo).
      expect(await eraseAddressHistory(open.pool, user.id)).toMatchObject({ previousEmails: 2, accountDeleted: false });
      expect(await rowsContaining(newEmail)).toEqual({});
      expect(await rowsContaining(oldEmail)).toEqual({ users: 1 });
    } finally {
      await open.stop();
    }
  });

  it('the embedded Temporal namespace keeps closed histories for the retention period (7 days), not the dev server\'s 24 hours', async () => {
    const { config } = await stack.temporal.workflowService.describeNamespace({ namespace: stack.config.temporal.namespace });
    expect(Number(config?.workflowExecutionRetentionTtl?.seconds)).toBe(DEV_RETENTION_MS / 1000);
  });

  it('--account deletes the account too, even when another account\'s history names one of its requests', async () => {
    const shared = uniqueEmail('held');
    const holder = await signedInUser(api, { email: shared });
    const user = await signedInUser(api);
    await startChange(api, user, shared);
    expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, shared) } })).status).toBe(200);
    // The holder lost the unverified address to this user's request: its history row points at that request.
    expect((await api.get('/v1/me', { token: holder.token })).body.previousEmails).toEqual([expect.objectContaining({ email: shared })]);

    await expect(eraseAddressHistory(stack.pool, user.id, { account: true })).resolves.toMatchObject({ accountDeleted: true });
    expect((await stack.pool.query('SELECT 1 FROM users WHERE id = $1', [user.id])).rowCount).toBe(0);
    expect((await stack.pool.query('SELECT 1 FROM email_change_requests WHERE user_id = $1', [user.id])).rowCount).toBe(0);
    expect(await rowsContaining(user.id)).toEqual({});
    expect((await api.post('/v1/sessions', { json: { username: user.username, password: user.password } })).status).toBe(401);
    // The holder's own history is the holder's: it stays, without the link to the deleted request.
    expect((await stack.pool.query('SELECT email, change_request_id FROM email_history WHERE user_id = $1', [holder.id])).rows).toEqual([{ email: shared, change_request_id: null }]);
  });
});
