import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { freePort } from '../../src/dev/ports';
import { createLinkToken, linkTokenKeyId, verifyLinkToken, verifyRevertToken } from '../../src/tokens';
import { loadConfig } from '../../src/config';
import { serviceEnv, startApi, startInProcessWorker, type FaultApi, type InProcessWorker } from '../helpers/services';
import { apiClient, signedInUser, uniqueEmail, type TestUser } from '../helpers/http';
import { clickAndConfirm, startChange, tokenFromMail, userWithVerifiedEmail } from '../helpers/flow';
import { pressUndo, undoLinkIn } from './revert-flow';

/**
 * Issue #10 item 4: link keys rotate. Links name the key that signed them; the API and the worker
 * are restarted with TOKEN_SECRETS=new,old (old links still confirm, new mail is signed by the new
 * key), then with the old key removed (its links get the invalid-link page and INVALID_TOKEN).
 * Undo links (issue #15, "this wasn't me" in the change notice) are signed by the same keys but live
 * for REVERT_WINDOW (7 d), not EMAIL_LINK_TTL: an old key must stay until those have passed too.
 */

const OLD = { id: 'k1', secret: randomBytes(32).toString('base64') };
const NEW = { id: 'k2', secret: randomBytes(32).toString('base64') };
const secretsOf = (...keys: { id: string; secret: string }[]) => keys.map((k) => `${k.id}:${k.secret}`).join(',');

let smtp: SmtpCapture;
let baseEnv: Record<string, string>;
let api: FaultApi | undefined;
let worker: InProcessWorker | undefined;

/** (Re)starts the API (same port, so mailed links point at it) and the worker with these keys. */
async function runWith(tokenSecrets: string) {
  await api?.stop();
  await worker?.stop();
  const env = { ...baseEnv, TOKEN_SECRET: '', TOKEN_SECRETS: tokenSecrets };
  worker = await startInProcessWorker(env);
  api = await startApi(env);
  return apiClient(api.baseUrl);
}

beforeAll(async () => {
  smtp = await startSmtpCapture();
  baseEnv = serviceEnv({ smtpUrl: smtp.url, port: await freePort() });
});
afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await smtp?.stop();
});

const expectInvalid = async (client: ReturnType<typeof apiClient>, token: string, what: string) => {
  const res = await client.post('/v1/email/verify', { json: { token } });
  expect(res.status, what).toBe(400);
  expect(res.body.error.code, what).toBe('INVALID_TOKEN');
};

/** The token with its key id field (the 8 bytes before the MAC) set to `id`, MAC untouched. */
function withKeyId(token: string, id: string): string {
  const raw = Buffer.from(token, 'base64url');
  const field = Buffer.alloc(8);
  field.write(id, 'ascii');
  field.copy(raw, raw.length - 32 - 8);
  return raw.toString('base64url');
}

describe('link keys rotate without killing the links in flight (issue #10)', () => {
  it('old links confirm after the rotation, new mail carries the new key id, removed keys and tampered key ids are invalid', async () => {
    // Before the rotation: one key.
    let client = await runWith(secretsOf(OLD));
    const early: { user: TestUser; email: string; token: string }[] = [];
    for (const tag of ['before-a', 'before-b']) {
      const user = await signedInUser(client);
      const email = uniqueEmail(tag);
      await startChange(client, user, email);
      early.push({ user, email, token: await tokenFromMail(smtp, email) });
    }
    expect(early.map((e) => linkTokenKeyId(e.token))).toEqual(['k1', 'k1']);

    // Rotation: the new key signs, the old one still verifies.
    client = await runWith(secretsOf(NEW, OLD));
    const [a, b] = early as [(typeof early)[0], (typeof early)[0]];
    const { postHtml } = await clickAndConfirm(`${baseEnv.PUBLIC_BASE_URL}/verify-email?token=${a.token}`);
    expect(postHtml).toContain('Your email address is confirmed');
    expect((await client.get('/v1/me', { token: a.user.token })).body).toMatchObject({ email: a.email, emailVerified: true });

    const late = await signedInUser(client);
    const lateEmail = uniqueEmail('after');
    await startChange(client, late, lateEmail);
    const lateToken = await tokenFromMail(smtp, lateEmail);
    expect(linkTokenKeyId(lateToken)).toBe('k2');
    expect(verifyLinkToken([OLD], lateToken)).toBeUndefined(); // really signed by the new key

    // The key id is covered by the MAC: pointing a link at the other key, or at none, breaks it.
    await expectInvalid(client, withKeyId(b.token, 'k2'), 'old link relabelled k2');
    await expectInvalid(client, withKeyId(lateToken, 'k1'), 'new link relabelled k1');
    await expectInvalid(client, withKeyId(lateToken, 'k3'), 'unknown key id');
    await expectInvalid(client, withKeyId(lateToken, 'k\u00002'), 'key id with a NUL inside');

    // The old key removed: its links are dead, the new key's still work.
    client = await runWith(secretsOf(NEW));
    await expectInvalid(client, b.token, 'link of a removed key');
    const page = await fetch(`${baseEnv.PUBLIC_BASE_URL}/verify-email?token=${b.token}`);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('This link is not valid');
    const pressed = await clickAndConfirm(`${baseEnv.PUBLIC_BASE_URL}/verify-email?token=${b.token}`);
    expect(pressed.post.status).toBe(400);
    expect(pressed.postHtml).toContain('This link is not valid');
    expect((await client.get('/v1/email/change', { token: b.user.token })).body.change).toMatchObject({ state: 'REQUESTED', confirmations: { new: false } });

    const ok = await client.post('/v1/email/verify', { json: { token: lateToken } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.state).toBe('APPROVED');
  });
});

/** A user whose verified address was changed (both links confirmed); the undo link of the notice to the old address. */
async function approvedChangeUndoLink(client: ReturnType<typeof apiClient>, tag: string) {
  const { user, email: oldEmail } = await userWithVerifiedEmail(client, smtp, `${tag}-old`);
  const newEmail = uniqueEmail(`${tag}-new`);
  await startChange(client, user, newEmail);
  expect((await client.post('/v1/email/verify', { json: { token: await tokenFromMail(smtp, newEmail) } })).status).toBe(200);
  const last = await client.post('/v1/email/verify', { json: { token: await tokenFromMail(smtp, oldEmail, 1) } });
  expect(last.body.state, last.text).toBe('APPROVED');
  const link = undoLinkIn(await smtp.waitForMessage(oldEmail, { seen: 2 }));
  return { user, oldEmail, newEmail, link, token: new URL(link).searchParams.get('token')! };
}

describe('undo links rotate like verification links, but live for REVERT_WINDOW (issue #10 × issue #15)', () => {
  it('an undo link mailed before the rotation still undoes after it; once its key is removed it is the invalid-link page', async () => {
    // Before the rotation: two approved changes whose notices carry undo links signed by the old key.
    let client = await runWith(secretsOf(OLD));
    const kept = await approvedChangeUndoLink(client, 'undo-kept');
    const dropped = await approvedChangeUndoLink(client, 'undo-dropped');
    expect([linkTokenKeyId(kept.token), linkTokenKeyId(dropped.token)]).toEqual(['k1', 'k1']);
    // They expire with the undo window (REVERT_WINDOW, 7 d by default), days after any verification link (EMAIL_LINK_TTL).
    const undoLifetime = verifyRevertToken([OLD], dropped.token)!.expiresAt - Date.now();
    expect(undoLifetime).toBeGreaterThan(6 * 24 * 3600_000);
    expect(undoLifetime).toBeGreaterThan(loadConfig(baseEnv).policy.linkTtlMs * 24);

    // Rotation (well inside EMAIL_LINK_TTL here, but an undo link outlives EMAIL_LINK_TTL by days):
    // the old key still verifies, so the undo page shows its button and the press restores the address.
    client = await runWith(secretsOf(NEW, OLD));
    const peek = await fetch(kept.link);
    expect(peek.status).toBe(200);
    expect(await peek.text()).toContain('Undo the change of your account email?');
    const pressed = await pressUndo(kept.link);
    expect(pressed.status, pressed.html).toBe(200);
    expect(pressed.html).toContain('The change was undone');
    expect(pressed.html).toContain(kept.oldEmail);
    const signedIn = await client.post('/v1/sessions', { json: { username: kept.user.username, password: kept.user.password } });
    expect((await client.get('/v1/me', { token: signedIn.body.token })).body).toMatchObject({ email: kept.oldEmail, emailVerified: true });

    // The old key removed while the other undo window is still open: that link is dead, nothing undone.
    client = await runWith(secretsOf(NEW));
    const gone = await fetch(dropped.link);
    expect(gone.status).toBe(400);
    expect(await gone.text()).toContain('This link is not valid');
    const refused = await pressUndo(dropped.link);
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('This link is not valid');
    expect((await client.get('/v1/me', { token: dropped.user.token })).body).toMatchObject({ email: dropped.newEmail, emailVerified: true });
  });
});

describe('the token format', () => {
  const claims = { changeId: '0b9e4c3a-7f1d-4e2a-9c8b-1a2b3c4d5e6f', purpose: 'new' as const, expiresAt: Date.now() + 60_000 };

  it('TOKEN_SECRET alone signs under the key id "default"', () => {
    const token = createLinkToken(OLD.secret, claims);
    expect(linkTokenKeyId(token)).toBe('default');
    expect(verifyLinkToken([{ id: 'default', secret: OLD.secret }], token)).toEqual(claims);
    expect(verifyLinkToken([{ id: 'other', secret: OLD.secret }], token)).toBeUndefined();
  });

  it('a version-1 link (mailed before key ids) still verifies under the key "default", and only there', () => {
    const payload = Buffer.alloc(42);
    payload.writeUInt8(1, 0);
    Buffer.from(claims.changeId.replace(/-/g, ''), 'hex').copy(payload, 1);
    payload.writeUInt8(1, 17);
    payload.writeBigUInt64BE(BigInt(claims.expiresAt), 18);
    randomBytes(16).copy(payload, 26);
    const v1 = Buffer.concat([payload, createHmac('sha256', OLD.secret).update(payload).digest()]).toString('base64url');
    expect(verifyLinkToken([NEW, { id: 'default', secret: OLD.secret }], v1)).toEqual(claims);
    expect(verifyLinkToken([NEW, { id: 'k1', secret: OLD.secret }], v1)).toBeUndefined();
  });

  it('has one length per version and refuses anything else', () => {
    const token = createLinkToken([NEW], claims);
    expect(token).toHaveLength(110);
    expect(verifyLinkToken([NEW], token)).toEqual(claims);
    for (const bad of [token.slice(0, -1), `${token}A`, token.slice(0, 99), `${token.slice(0, -1)}=`]) expect(verifyLinkToken([NEW], bad)).toBeUndefined();
  });
});
