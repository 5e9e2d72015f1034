import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { clickAndConfirm, PASSWORD_PROOF, startChange, tokenFromMail } from '../helpers/flow';
import { statusQuery } from '../../src/workflows/messages';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  // 3 s: long enough that the first mail always arrives inside the cooldown, even on a loaded machine.
  stack = await startStack({ RESEND_COOLDOWN: '3s', MAX_RESENDS: '2' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rowState = async (id: string) => (await stack.pool.query('SELECT state FROM email_change_requests WHERE id = $1', [id])).rows[0]?.state;

describe('R-RESEND', () => {
  it('a new link works and the old one stops; cooldown answers 429 with Retry-After; the cap holds', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('resend');
    await startChange(api, user, email);
    const first = await tokenFromMail(stack.smtp, email, 0);

    const early = await api.post('/v1/email/change/resend', { token: user.token });
    expect(early.status).toBe(429);
    expect(early.body.error.code).toBe('RATE_LIMITED');
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    await sleep(3_100);
    const resent = await api.post('/v1/email/change/resend', { token: user.token });
    expect(resent.status).toBe(202); // like start: the mail goes out asynchronously
    expect(resent.body.change).toMatchObject({ state: 'REQUESTED', resendsLeft: 1 });
    expect(resent.body.lock).toMatchObject({ locked: false });
    const second = await tokenFromMail(stack.smtp, email, 1);
    expect(second).not.toBe(first);

    const old = await api.post('/v1/email/verify', { json: { token: first } });
    expect(old.status).toBe(410);
    expect(old.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'resent' } });
    const oldPage = await fetch(`${stack.baseUrl}/verify-email?token=${first}`);
    expect(oldPage.status).toBe(410);
    expect(await oldPage.text()).toContain('A newer link was sent');

    await sleep(3_100);
    expect((await api.post('/v1/email/change/resend', { token: user.token })).status).toBe(202);
    const third = await tokenFromMail(stack.smtp, email, 2);
    await sleep(3_100);
    const capped = await api.post('/v1/email/change/resend', { token: user.token });
    expect(capped.status).toBe(429);
    expect(capped.body.error.details).toMatchObject({ resendsLeft: 0 });
    expect(capped.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(stack.smtp.messagesTo(email)).toHaveLength(3);

    const ok = await api.post('/v1/email/verify', { json: { token: third } });
    expect(ok.status).toBe(200);
    expect(ok.body.state).toBe('APPROVED');
  });

  it('without a pending change, resend and cancel are 404', async () => {
    const user = await signedInUser(api);
    const resend = await api.post('/v1/email/change/resend', { token: user.token });
    expect([resend.status, resend.body.error.code]).toEqual([404, 'NO_PENDING_CHANGE']);
    const cancel = await api.delete('/v1/email/change', { token: user.token });
    expect([cancel.status, cancel.body.error.code]).toEqual([404, 'NO_PENDING_CHANGE']);
  });
});

describe('R-CANCEL', () => {
  it('ends the pending change as CANCELLED; its link shows the cancelled page', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('cancel');
    const change = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    const res = await api.delete('/v1/email/change', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body.change).toMatchObject({ id: change.id, state: 'CANCELLED', reasonCode: 'CANCELLED' });
    expect(await rowState(change.id)).toBe('CANCELLED');
    const verify = await api.post('/v1/email/verify', { json: { token } });
    expect(verify.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'cancelled' } });
    const { get, getHtml } = await clickAndConfirm(`${stack.baseUrl}/verify-email?token=${token}`);
    expect(get.status).toBe(410);
    expect(getHtml).toContain('This request was cancelled');
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: null, pendingChange: null });
  });
});

describe('R-START one pending change per user', () => {
  it('a new request replaces the pending one: old links dead, old request SUPERSEDED', async () => {
    const user = await signedInUser(api);
    const firstEmail = uniqueEmail('first');
    const first = await startChange(api, user, firstEmail);
    const oldToken = await tokenFromMail(stack.smtp, firstEmail);
    const secondEmail = uniqueEmail('second');
    const second = await startChange(api, user, secondEmail);

    expect(await rowState(first.id)).toBe('SUPERSEDED');
    const dead = await api.post('/v1/email/verify', { json: { token: oldToken } });
    expect(dead.status).toBe(410);
    expect(dead.body.error.details.reason).toBe('superseded');
    expect(await (await fetch(`${stack.baseUrl}/verify-email?token=${oldToken}`)).text()).toContain('This request was replaced');

    const ok = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, secondEmail) } });
    expect(ok.body).toMatchObject({ id: second.id, state: 'APPROVED', newEmail: secondEmail });
  });

  it('two parallel starts for one user leave exactly one pending change', async () => {
    const user = await signedInUser(api);
    const emails = [uniqueEmail('p1'), uniqueEmail('p2'), uniqueEmail('p3')];
    const results = await Promise.all(
      emails.map((email) => api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) } })),
    );
    expect(results.map((r) => r.status)).toEqual([202, 202, 202]);
    // Temporal decides which start came last: its run is the one open; it records itself, then exactly one REQUESTED row remains.
    const current = (await stack.temporal.workflow.getHandle(`email-change-${user.id}`).query(statusQuery)).id;
    const winner = results.find((r) => r.body.change.id === current)!.body.change;
    await tokenFromMail(stack.smtp, winner.newEmail);
    const rows = await stack.pool.query("SELECT id FROM email_change_requests WHERE user_id = $1 AND state = 'REQUESTED'", [user.id]);
    expect(rows.rows.map((r) => r.id)).toEqual([current]);
    const status = await api.get('/v1/email/change', { token: user.token });
    expect(status.body.change).toMatchObject({ id: current, state: 'REQUESTED' });
    const running = await stack.temporal.workflow.getHandle(`email-change-${user.id}`).describe();
    expect(running.status.name).toBe('RUNNING');
  });
});
