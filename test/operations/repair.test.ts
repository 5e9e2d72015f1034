import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { startChange, tokenFromMail } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';

/**
 * Issue #13 item 6: a run terminated from the UI, or lost, does not leave its request row pending;
 * operators have `npm run change` and `npm run reconcile` (docs/operations.md).
 */
const ROOT = path.resolve(__dirname, '../..');
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const row = async (id: string) =>
  (await stack.pool.query<{ state: string; reason: string | null }>('SELECT state, reason FROM email_change_requests WHERE id = $1', [id])).rows[0];

/** An operator command as a process, with the service's environment. */
function npm(script: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', ['run', '--silent', script, '--', ...args], { cwd: ROOT, env: { ...process.env, ...stack.env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A REQUESTED row with no run, as a PostgreSQL restore leaves one (the run finished or never existed on this Temporal). */
async function restoredRow(user: TestUser, opts: { ageMs: number; expiresInMs: number }): Promise<string> {
  const id = randomUUID();
  const email = uniqueEmail('restored');
  await stack.pool.query(
    `INSERT INTO email_change_requests (id, user_id, workflow_id, kind, old_email, new_email, new_email_normalized, needs_old_confirmation,
       state, expires_at, created_at, last_send_at, resend_cooldown_ms, max_resends)
     VALUES ($1, $2, $3, 'ADD', NULL, $4, $4, false, 'REQUESTED', now() + make_interval(secs => $5), now() - make_interval(secs => $6), now() - make_interval(secs => $6), 60000, 3)`,
    [id, user.id, workflowIdFor(user.id), email, opts.expiresInMs / 1000, opts.ageMs / 1000],
  );
  await stack.pool.query('UPDATE users SET current_change_id = $2 WHERE id = $1', [user.id, id]);
  return id;
}

describe('a run terminated from the Temporal UI', () => {
  it('closes its row as CANCELLED by an operator: status and /v1/me show nothing pending, cancel is 404, the link is finished, a new start works', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('terminated');
    const change = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).terminate('stuck, from the UI');
    const terminatedAt = Date.now();

    // The start's answer showed the run open, so reads trust it (issue #12); the watcher closes the row within seconds.
    let status = await api.get('/v1/email/change', { token: user.token });
    while (status.body.change?.state === 'REQUESTED' && Date.now() - terminatedAt < 10_000) {
      await new Promise((r) => setTimeout(r, 100));
      status = await api.get('/v1/email/change', { token: user.token });
    }
    console.log(`[repair] status shows the terminated run's change CANCELLED ${Date.now() - terminatedAt} ms after the terminate`);
    expect(status.status).toBe(200);
    expect(status.body.change).toMatchObject({ id: change.id, state: 'CANCELLED', reasonCode: 'CANCELLED' });
    expect(status.body.change.reason).toMatch(/^ended by an operator: the workflow run was terminated/);
    expect(await row(change.id)).toMatchObject({ state: 'CANCELLED' });

    const me = await api.get('/v1/me', { token: user.token });
    expect(me.body.pendingChange).toBeNull();
    const cancel = await api.delete('/v1/email/change', { token: user.token });
    expect([cancel.status, cancel.body.error.code]).toEqual([404, 'NO_PENDING_CHANGE']);
    const page = await fetch(`${stack.baseUrl}/verify-email?token=${token}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('This request was cancelled');
    const verify = await api.post('/v1/email/verify', { json: { token } });
    expect([verify.status, verify.body.error.details?.reason]).toEqual([410, 'cancelled']);

    const next = await startChange(api, user, uniqueEmail('after-terminate'));
    expect(next.state).toBe('REQUESTED');
  });

  it('a run terminated after its status was read (reads then trust it open) is closed by the watcher within seconds, with no read at all', async () => {
    const user = await signedInUser(api);
    const change = await startChange(api, user, uniqueEmail('terminated-watched'));
    expect((await api.get('/v1/email/change', { token: user.token })).body.change).toMatchObject({ id: change.id, state: 'REQUESTED' });
    await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).terminate('stuck, from the UI');
    const terminatedAt = Date.now();

    // Nobody reads: the API's watcher lists runs that closed while still REQUESTED, and closes their rows.
    for (;;) {
      if ((await row(change.id))?.state === 'CANCELLED') break;
      if (Date.now() - terminatedAt > 10_000) throw new Error(`the row is still ${(await row(change.id))?.state} 10 s after the run was terminated`);
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`[repair] a terminated run's row closed by the watcher ${Date.now() - terminatedAt} ms after the terminate`);
    expect((await api.get('/v1/me', { token: user.token })).body.pendingChange).toBeNull();
    expect((await api.get('/v1/email/change', { token: user.token })).body.change).toMatchObject({ id: change.id, state: 'CANCELLED', reasonCode: 'CANCELLED' });
  });

  it('the link page closes the row too when it is the first to look', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('terminated-link');
    const change = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    await stack.temporal.workflow.getHandle(workflowIdFor(user.id)).terminate('stuck');
    const page = await fetch(`${stack.baseUrl}/verify-email?token=${token}`);
    expect(page.status).toBe(410);
    expect((await row(change.id))?.state).toBe('CANCELLED');
  });
});

describe('a row left REQUESTED with no run (a restore)', () => {
  it('is closed on the next read', async () => {
    const user = await signedInUser(api);
    const id = await restoredRow(user, { ageMs: 3_600_000, expiresInMs: 3_600_000 });
    const status = await api.get('/v1/email/change', { token: user.token });
    expect(status.body.change).toMatchObject({ id, state: 'CANCELLED', reasonCode: 'CANCELLED' });
    expect(status.body.change.reason).toContain('workflow run was not found');
  });

  it('is closed by `npm run reconcile`: EXPIRED past its deadline, CANCELLED before it', async () => {
    const expired = await restoredRow(await signedInUser(api), { ageMs: 3 * 3_600_000, expiresInMs: -3_600_000 });
    const old = await restoredRow(await signedInUser(api), { ageMs: 3_600_000, expiresInMs: 3_600_000 });
    const run = await npm('reconcile');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/checked \d+\tclosed \d+/);
    expect(await row(expired)).toMatchObject({ state: 'EXPIRED' });
    expect(await row(old)).toMatchObject({ state: 'CANCELLED' });
  });
});

describe('a run that is just starting', () => {
  it('is never closed: status read many times right after the start stays pending', async () => {
    const user = await signedInUser(api);
    const change = await startChange(api, user, uniqueEmail('starting'));
    const states = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const res = await api.get('/v1/email/change', { token: user.token });
      if (res.body.change) states.add(res.body.change.state);
    }
    expect([...states]).toEqual(['REQUESTED']);
    expect((await row(change.id))?.state).toBe('REQUESTED');
  });
});

describe('npm run change', () => {
  it('cancel: an open run is cancelled by its workflow (no mail); show prints ids and states, addresses only with --decode', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('operator-cancel');
    const change = await startChange(api, user, email);
    await stack.smtp.waitForMessage(email);

    const show = await npm('change', 'show', user.id);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`change ${change.id}\tstate REQUESTED`);
    expect(show.stdout).toMatch(/RUNNING/);
    expect(show.stdout).not.toContain(email);
    expect((await npm('change', 'show', user.id, '--decode')).stdout).toContain(email);

    const cancel = await npm('change', 'cancel', user.id);
    expect(cancel.code, cancel.stdout + cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(`cancelled\tchange ${change.id}`);
    expect(await row(change.id)).toMatchObject({ state: 'CANCELLED', reason: 'cancelled by the user' });
    expect(stack.smtp.messagesTo(email)).toHaveLength(1); // the link only: cancelling mails nothing

    const again = await npm('change', 'cancel', user.id);
    expect(again.code).toBe(3);
  });

  it('cancel: a stuck row (no run) is closed with the operator reason; bad usage exits 2', async () => {
    const user = await signedInUser(api);
    const id = await restoredRow(user, { ageMs: 60_000, expiresInMs: 3_600_000 });
    const cancel = await npm('change', 'cancel', user.id, '--reason', 'restore cleanup');
    expect(cancel.code, cancel.stdout + cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(`closed\tchange ${id}`);
    expect(await row(id)).toEqual({ state: 'CANCELLED', reason: 'ended by an operator: restore cleanup' });
    expect((await npm('change', 'cancel', 'not-a-uuid')).code).toBe(2);
  });
});
