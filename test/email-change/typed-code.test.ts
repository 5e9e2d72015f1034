import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapturedMail } from '../../src/dev/smtp-capture';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { linkIn, startChange, tokenFromMail, tokenOf, userWithVerifiedEmail } from '../helpers/flow';
import { workflowIdFor } from '../../src/workflows/messages';
import { verifierOf } from '../../src/workflows/link-proof';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { decodeHistoryInPlace } from '../../src/codec/history-payloads';

/**
 * Issue #15 item 7, over HTTP against real Temporal, PostgreSQL and SMTP: every verification mail
 * carries a 6-digit code that the signed-in user may type instead of opening the link. Links live
 * 5 s here and a resend may follow after 1 s, so expiry and resends are reached by waiting.
 */
const LINK_TTL_MS = 5_000;
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ EMAIL_LINK_TTL: `${LINK_TTL_MS / 1000}s`, RESEND_COOLDOWN: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await stack?.stop();
});

/** The code in a verification mail (English: "…, type this code: 123456. …"), checked against its HTML part. */
function codeIn(mail: CapturedMail): string {
  const code = /type this code: (\d{6})\./.exec(mail.text)?.[1];
  if (!code) throw new Error(`no code in mail "${mail.subject}":\n${mail.text}`);
  expect(mail.html).toContain(`<strong>${code}</strong>`);
  return code;
}
const codeFromMail = async (address: string, index = 0) => codeIn(await stack.smtp.waitForMessage(address, { seen: index }));
/** A code that is certainly not `code`. */
const otherThan = (code: string, n = 1) => String((Number(code) + n) % 1_000_000).padStart(6, '0');
const typeCode = (user: TestUser | undefined, code: string) => api.post('/v1/email/verify', { token: user?.token, json: { code } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a typed code instead of the link (issue #15 item 7)', () => {
  it('the code from the mail confirms an added address; typed again once the change is done, there is nothing pending', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('code-add');
    await startChange(api, user, email);
    const mail = await stack.smtp.waitForMessage(email);
    const code = codeIn(mail);
    expect(mail.text).toContain(linkIn(mail)); // the link is still there

    const res = await typeCode(user, code);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ state: 'APPROVED', newEmail: email, alreadyConfirmed: false, confirmations: { new: true } });
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email, emailVerified: true });
    const again = await typeCode(user, code);
    expect(again.status, again.text).toBe(404);
    expect(again.body.error.code).toBe('NO_PENDING_CHANGE');
  });

  it('on a change, each address gets its own code, and each code confirms only its address (spaces typed in are fine)', async () => {
    const { user, email: oldEmail } = await userWithVerifiedEmail(api, stack.smtp, 'code-old');
    const newEmail = uniqueEmail('code-new');
    await startChange(api, user, newEmail);
    const newCode = await codeFromMail(newEmail);
    const oldCode = await codeFromMail(oldEmail, 1);
    expect(newCode).not.toBe(oldCode);

    const first = await typeCode(user, `${oldCode.slice(0, 3)} ${oldCode.slice(3)}`);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ state: 'REQUESTED', confirmations: { new: false, old: true } });
    const second = await typeCode(user, newCode);
    expect(second.status, second.text).toBe(200);
    expect(second.body).toMatchObject({ state: 'APPROVED', newEmail, confirmations: { new: true, old: true } });
    expect((await api.get('/v1/me', { token: user.token })).body.email).toBe(newEmail);
  });

  it('5 wrong codes, then even the right code is refused, while the link still works', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('code-wrong');
    await startChange(api, user, email);
    const mail = await stack.smtp.waitForMessage(email);
    const code = codeIn(mail);
    for (let i = 1; i <= 5; i++) {
      const res = await typeCode(user, otherThan(code, i));
      expect(res.status, res.text).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'INVALID_CODE', details: { attemptsLeft: 5 - i } });
    }
    const right = await typeCode(user, code);
    expect(right.status, right.text).toBe(409);
    expect(right.body.error).toMatchObject({ code: 'CODE_LOCKED', details: { attemptsLeft: 0 } });
    expect((await api.get('/v1/email/change', { token: user.token })).body.change.confirmations.new).toBe(false);

    const link = await api.post('/v1/email/verify', { json: { token: tokenOf(linkIn(mail)) } });
    expect(link.status, link.text).toBe(200);
    expect(link.body.state).toBe('APPROVED');
  });

  it("another account's session cannot use the code, and without a session a code is 401", async () => {
    const owner = await signedInUser(api);
    const email = uniqueEmail('code-owner');
    await startChange(api, owner, email);
    const code = await codeFromMail(email);

    const stranger = await signedInUser(api); // nothing pending
    const none = await typeCode(stranger, code);
    expect(none.status, none.text).toBe(404);
    expect(none.body.error.code).toBe('NO_PENDING_CHANGE');
    const busy = await signedInUser(api); // a change of its own: the owner's code is a wrong code there
    await startChange(api, busy, uniqueEmail('code-busy'));
    const wrong = await typeCode(busy, code);
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: 'INVALID_CODE', details: { attemptsLeft: 4 } });
    const anonymous = await typeCode(undefined, code);
    expect(anonymous.status, anonymous.text).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    const both = await api.post('/v1/email/verify', { token: owner.token, json: { code, token: 'x' } });
    expect(both.status).toBe(400);
    expect(both.body.error.code).toBe('VALIDATION_FAILED');
    const malformed = await typeCode(owner, '12345');
    expect(malformed.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: 'code' }] } });

    expect((await api.get('/v1/email/change', { token: owner.token })).body.change.confirmations.new).toBe(false);
    const own = await typeCode(owner, code);
    expect(own.status, own.text).toBe(200);
    expect(own.body.state).toBe('APPROVED');
  });

  it('concurrent wrong guesses never get more than 5 tries', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('code-race');
    await startChange(api, user, email);
    const code = await codeFromMail(email);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => typeCode(user, otherThan(code, i + 1))));
    const wrong = answers.filter((r) => r.status === 400);
    const locked = answers.filter((r) => r.status === 409);
    expect(answers.map((r) => r.status).sort()).toEqual([...Array(5).fill(400), ...Array(7).fill(409)]);
    expect(wrong.map((r) => r.body.error.details.attemptsLeft).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const r of locked) expect(r.body.error.code).toBe('CODE_LOCKED');
    expect((await typeCode(user, code)).body.error.code).toBe('CODE_LOCKED');
  });

  it('a resend issues new codes: the old one says a newer code was sent (not counted), the new one confirms', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('code-resend');
    await startChange(api, user, email);
    const first = await codeFromMail(email);
    await sleep(1_100); // RESEND_COOLDOWN
    const resent = await api.post('/v1/email/change/resend', { token: user.token });
    expect(resent.status, resent.text).toBe(202);
    const second = await codeFromMail(email, 1);

    const stale = await typeCode(user, first);
    expect(stale.status, stale.text).toBe(410);
    expect(stale.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'resent' } });
    const wrong = await typeCode(user, otherThan(second, first === otherThan(second) ? 2 : 1));
    expect(wrong.body.error.details.attemptsLeft).toBe(4); // the stale code did not count
    const ok = await typeCode(user, second);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.state).toBe('APPROVED');
  });

  it('a code expires with its link', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('code-expiry');
    await startChange(api, user, email);
    const code = await codeFromMail(email);
    await sleep(LINK_TTL_MS + 500); // the link (and its code) was made before its mail arrived
    const res = await typeCode(user, code);
    expect(res.status, res.text).toBe(410);
    expect(res.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'expired' } });
  });

  it('the code never reaches Temporal or PostgreSQL: only a keyed verifier is kept', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('code-history');
    await startChange(api, user, email);
    const code = await codeFromMail(email);
    await typeCode(user, otherThan(code)); // a wrong try is in the history too
    expect((await typeCode(user, code)).status).toBe(200);
    const handle = stack.temporal.workflow.getHandle(workflowIdFor(user.id));
    await handle.result();

    const history = await handle.fetchHistory();
    const raw = JSON.stringify(history, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
    const decoded = JSON.stringify(await decodeHistoryInPlace(history, new EncryptionCodec(stack.config.payloadKeys)), (_k, v: unknown) =>
      v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v,
    );
    expect(decoded).toContain('verifyCode'); // the Update is there, decoded
    const unkeyed = createHash('sha256').update(code).digest('hex');
    for (const text of [raw, decoded]) {
      expect(text).not.toMatch(new RegExp(`(?<![0-9])${code}(?![0-9])`));
      expect(text).not.toContain(unkeyed); // not a plain hash either: a million guesses would invert it
      expect(text).not.toContain(verifierOf(unkeyed));
    }
    const { rows } = await stack.pool.query<{ verifier: string | null }>("SELECT code_verifier AS verifier FROM mail_messages WHERE change_id = (SELECT current_change_id FROM users WHERE id = $1)", [user.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.verifier).toMatch(/^[0-9a-f]{64}$/);
    expect([unkeyed, verifierOf(unkeyed), verifierOf(code)]).not.toContain(rows[0]!.verifier);
  });
});

describe('tokens still confirm alone', () => {
  it('a link token needs no session and a code needs one', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('code-token');
    await startChange(api, user, email);
    const res = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, email) } });
    expect(res.status, res.text).toBe(200);
  });
});
