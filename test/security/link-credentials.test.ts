import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { TEST_TOKEN_SECRET } from '../helpers/services';
import { linkIn, startChange, tokenFromMail, tokenOf, userWithVerifiedEmail, waitForStatus } from '../helpers/flow';
import { createLinkToken, proofOf, verifyLinkToken } from '../../src/tokens';
import { verifyUpdate, workflowIdFor } from '../../src/workflows/messages';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { decodeHistoryInPlace } from '../../src/codec/history-payloads';

/**
 * Issue #9 items 2, 3 and 11: nothing an operator, a database reader or the signed-in user can
 * see works as a link, and a link tells its holder no more than its own mail did.
 */
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ EMAIL_LINK_TTL: '4s', RESEND_COOLDOWN: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rowState = async (id: string) => (await stack.pool.query('SELECT state FROM email_change_requests WHERE id = $1', [id])).rows[0]?.state;

/** Every string in the run's history (payloads decoded), as an operator with Temporal access reads it. */
async function historyStrings(userId: string): Promise<string[]> {
  // Decrypted: the operator here holds PAYLOAD_KEYS too (the strongest reader of the history).
  const history = await decodeHistoryInPlace(await stack.temporal.workflow.getHandle(workflowIdFor(userId)).fetchHistory(), new EncryptionCodec(stack.config.payloadKeys));
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) {
      const text = Buffer.from(v).toString('utf8');
      found.push(text);
      try {
        walk(JSON.parse(text));
      } catch {
        // not JSON
      }
    } else if (typeof v === 'string') found.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(history.events);
  return found.filter((s) => /^[0-9a-f]{64}$/.test(s));
}

describe('hashes in the history and the database are not credentials (issue #9 item 3)', () => {
  it('a verify Update carrying any stored hash is refused; the change stays pending', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('hash-replay');
    const change = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);

    const stored = (await stack.pool.query('SELECT token_verifier FROM mail_messages WHERE change_id = $1', [change.id])).rows.map((r) => r.token_verifier);
    const candidates = [...new Set([...stored, ...(await historyStrings(user.id))])];
    expect(stored).toHaveLength(1);
    expect(candidates.length).toBeGreaterThan(0);
    const handle = stack.temporal.workflow.getHandle(workflowIdFor(user.id));
    for (const hash of candidates) {
      // As an operator would: `temporal workflow update execute --name verify` with what they can read, in both argument shapes.
      for (const args of [{ changeId: change.id, purpose: 'new', proof: hash }, { changeId: change.id, purpose: 'new', tokenHash: hash }]) {
        const refused = await handle.executeUpdate(verifyUpdate, { args: [args as never] }).then(() => undefined, (err: unknown) => err);
        expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'INVALID_TOKEN' });
      }
    }
    expect(await rowState(change.id)).toBe('REQUESTED');
    expect(candidates).not.toContain(proofOf(token)); // what the link proves is nowhere before it is used

    const confirmed = await api.post('/v1/email/verify', { json: { token } });
    expect(confirmed.status).toBe(200);
    expect(await rowState(change.id)).toBe('APPROVED');
  });

  it('the outbox keeps the token only until its mail is sent; after that nothing in the row rebuilds or proves the link', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('outbox');
    const change = await startChange(api, user, email);
    const token = await tokenFromMail(stack.smtp, email);
    await waitForStatus(api, user, (b) => b.change.delivery.new.status === 'sent');
    const { rows } = await stack.pool.query('SELECT * FROM mail_messages WHERE change_id = $1', [change.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].token_sealed).toBeNull();
    const row = JSON.stringify(rows[0]);
    expect(row).not.toContain(token);
    expect(row).not.toContain(proofOf(token));
  });
});

describe('links cannot be computed from what the signed-in user sees, even with the secret (issue #9 item 2)', () => {
  it('the old derivation of the nonce (HMAC of changeId:purpose:1) no longer makes a working link', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('forge');
    const change = await startChange(api, user, email);
    const real = await tokenFromMail(stack.smtp, email);
    const status = (await api.get('/v1/email/change', { token: user.token })).body.change;

    // What an attacker holding the secret and a session knows: the change id and the expiry the status shows.
    const claims = verifyLinkToken(TEST_TOKEN_SECRET, real)!;
    const shown = Date.parse(status.linkExpiresAt);
    expect(shown % 60_000).toBe(0); // the status shows the expiry to the minute, never the instant inside the token
    expect(claims.expiresAt - shown).toBeGreaterThanOrEqual(0);
    expect(claims.expiresAt - shown).toBeLessThan(60_000);

    const derivedNonce = createHmac('sha256', TEST_TOKEN_SECRET).update(`nonce:${change.id}:new:1`).digest().subarray(0, 16);
    const payload = Buffer.from(real, 'base64url').subarray(0, 42);
    derivedNonce.copy(payload, 26);
    const forged = Buffer.concat([payload, createHmac('sha256', TEST_TOKEN_SECRET).update(payload).digest()]).toString('base64url');
    expect(forged).not.toBe(real);
    const attempt = await api.post('/v1/email/verify', { json: { token: forged } });
    expect(attempt.status).toBe(400);
    expect(attempt.body.error.code).toBe('INVALID_TOKEN');
    // A fresh token with the very same claims is just as useless: the nonce is random.
    const fresh = await api.post('/v1/email/verify', { json: { token: createLinkToken(TEST_TOKEN_SECRET, claims) } });
    expect(fresh.status).toBe(400);
    expect(await rowState(change.id)).toBe('REQUESTED');
  });
});

describe('a link shows its holder only what its mail showed (issue #9 item 11)', () => {
  it("the old address's token answers with the new address masked, and the new address's with the old one masked", async () => {
    const { user, email: oldEmail } = await userWithVerifiedEmail(api, stack.smtp, 'mask-old');
    const newEmail = uniqueEmail('mask-new');
    await startChange(api, user, newEmail);
    const oldToken = tokenOf(linkIn(await stack.smtp.waitForMessage(oldEmail, { seen: 1 })));
    const newToken = await tokenFromMail(stack.smtp, newEmail);

    const fromOld = await api.post('/v1/email/verify', { json: { token: oldToken } });
    expect(fromOld.status).toBe(200);
    expect(fromOld.text).not.toContain(newEmail);
    expect(fromOld.body.newEmail).toMatch(/^ma\*\*\*@example\.com$/);
    const fromNew = await api.post('/v1/email/verify', { json: { token: newToken } });
    expect(fromNew.status).toBe(200);
    expect(fromNew.body.state).toBe('APPROVED');
    expect(fromNew.text).not.toContain(oldEmail);
  });

  it('after approval only the link that confirmed, while unexpired, hears "already confirmed"; a replaced or expired one is finished', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('after-approval');
    await startChange(api, user, email);
    const replaced = await tokenFromMail(stack.smtp, email, 0);
    await sleep(1_100);
    expect((await api.post('/v1/email/change/resend', { token: user.token })).status).toBe(202);
    const current = await tokenFromMail(stack.smtp, email, 1);
    expect((await api.post('/v1/email/verify', { json: { token: current } })).status).toBe(200);

    const again = await api.post('/v1/email/verify', { json: { token: current } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ state: 'APPROVED', alreadyConfirmed: true });
    const old = await api.post('/v1/email/verify', { json: { token: replaced } });
    expect(old.status).toBe(410);
    expect(old.body.error).toMatchObject({ code: 'LINK_EXPIRED', details: { reason: 'finished' } });
    expect(old.text).not.toContain(email);

    await sleep(Math.max(0, verifyLinkToken(TEST_TOKEN_SECRET, current)!.expiresAt - Date.now()) + 100);
    const expired = await api.post('/v1/email/verify', { json: { token: current } });
    expect(expired.status).toBe(410);
    expect(expired.text).not.toContain(email);
  });
});
