import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { parseEmailAddress } from '../../src/email-address';
import { serviceEnv, startApi, startInProcessWorker, type FaultApi, type InProcessWorker } from '../helpers/services';
import { apiClient, signedInUser, type ApiClient } from '../helpers/http';
import { PASSWORD_PROOF, startChange, tokenFromMail, waitForStatus } from '../helpers/flow';

/**
 * Issue #15 item 3, over HTTP against real Temporal, PostgreSQL and SMTP servers: IDN domains are
 * accepted, kept in Unicode for display, compared and sent in their A-label (punycode) form; a
 * UTF-8 local part is accepted when the relay offers SMTPUTF8 and refused with 422 otherwise. The
 * dev SMTP capture plays both relays (smtp-server with and without SMTPUTF8) and records the
 * envelope as it came over the wire.
 */
interface Relay {
  smtp: SmtpCapture;
  api: ApiClient;
  stop(): Promise<void>;
}

/** A relay (SMTPUTF8 offered or not), a worker and an API; `apiEnv` only for the API (e.g. an operator's wrong SMTP_UTF8=on). */
async function relayStack(smtpUtf8: boolean, apiEnv: Record<string, string> = {}): Promise<Relay> {
  const smtp = await startSmtpCapture({ smtpUtf8 });
  const env = serviceEnv({ smtpUrl: smtp.url, port: await freePort() });
  const worker: InProcessWorker = await startInProcessWorker(env);
  const api: FaultApi = await startApi({ ...env, ...apiEnv });
  return {
    smtp,
    api: apiClient(api.baseUrl),
    async stop() {
      await api.stop();
      await worker.stop();
      await smtp.stop();
    },
  };
}

let counter = 0;
const unique = () => `${Date.now().toString(36)}${counter++}${process.pid}`;

let utf8: Relay;
let ascii: Relay;
beforeAll(async () => {
  [utf8, ascii] = await Promise.all([relayStack(true), relayStack(false)]);
});
afterAll(async () => {
  await Promise.all([utf8?.stop(), ascii?.stop()]);
});

describe('addresses: IDN domains, UTF-8 local parts, NFC, mixed scripts (issue #15 item 3)', () => {
  it('parses to a display form, a normalised A-label form and whether SMTPUTF8 is needed', () => {
    expect(parseEmailAddress('Jörg@BÜCHER.example')).toEqual({ address: 'Jörg@bücher.example', normalized: 'jörg@xn--bcher-kva.example', needsSmtpUtf8: true });
    expect(parseEmailAddress('joerg@xn--bcher-kva.example')).toEqual({ address: 'joerg@bücher.example', normalized: 'joerg@xn--bcher-kva.example', needsSmtpUtf8: false });
    expect(parseEmailAddress('Alice@Example.COM')).toEqual({ address: 'Alice@Example.COM', normalized: 'alice@example.com', needsSmtpUtf8: false });
    expect(parseEmailAddress('jo\u0308rg@example.de')!.address).toBe('j\u00f6rg@example.de'); // NFC
    expect(parseEmailAddress('राम@उदाहरण.नेपाल')!.normalized).toBe('राम@xn--p1b6ci4b4b3a.xn--l2bey1c2b');
    expect(parseEmailAddress('ユーザー@例え.テスト')).toBeDefined(); // Kana and Han together are one writing system
    for (const bad of ['p\u0430ypal@example.com', 'paypal@p\u0430ypal.com', 'a\u202e@example.com', '😀@example.com', 'x@xn--zz.example', 'a@b..example', `${'ö'.repeat(33)}@example.com`]) {
      expect(parseEmailAddress(bad), bad).toBeUndefined();
    }
  });
});

describe('a relay that offers SMTPUTF8', () => {
  it('an IDN domain: shown in Unicode, sent as punycode, unique by its A-label', async () => {
    const user = await signedInUser(utf8.api);
    const local = `joerg.${unique()}`;
    const email = `${local}@bücher.example`;
    const change = await startChange(utf8.api, user, email);
    expect(change.newEmail).toBe(email);

    const mail = await utf8.smtp.waitForMessage(email);
    expect(mail.envelope).toContain(`RCPT TO:<${local}@xn--bcher-kva.example>`);
    expect(mail.envelope.find((l) => l.startsWith('MAIL FROM'))).not.toContain('SMTPUTF8');
    const verified = await utf8.api.post('/v1/email/verify', { json: { token: await tokenFromMail(utf8.smtp, email) } });
    expect(verified.status, verified.text).toBe(200);
    expect((await utf8.api.get('/v1/me', { token: user.token })).body).toMatchObject({ email, emailVerified: true });

    // The same address typed as its A-label, or in capitals, is the same address.
    const other = await signedInUser(utf8.api);
    const aLabel = `${local.toUpperCase()}@XN--BCHER-KVA.example`;
    const availability = await utf8.api.get(`/v1/email/availability?email=${encodeURIComponent(aLabel)}`, { token: other.token });
    expect(availability.body).toEqual({ email: `${local}@xn--bcher-kva.example`, available: false, reason: 'taken' });
    const taken = await utf8.api.post('/v1/email/change', { token: other.token, json: { email: aLabel, auth: PASSWORD_PROOF(other) } });
    expect(taken.status, taken.text).toBe(409);
    expect(taken.body.error.code).toBe('EMAIL_TAKEN');
  });

  it('a UTF-8 local part (typed decomposed) is kept in NFC and sent with SMTPUTF8', async () => {
    const user = await signedInUser(utf8.api);
    const tag = unique();
    const email = `jörg.${tag}@example.de`;
    const change = await startChange(utf8.api, user, `jo\u0308rg.${tag}@example.de`);
    expect(change.newEmail).toBe(email);

    const mail = await utf8.smtp.waitForMessage(email);
    expect(mail.envelope.find((l) => l.startsWith('MAIL FROM'))).toContain('SMTPUTF8');
    expect(mail.envelope).toContain(`RCPT TO:<${email}>`);
    const verified = await utf8.api.post('/v1/email/verify', { json: { token: await tokenFromMail(utf8.smtp, email) } });
    expect(verified.status, verified.text).toBe(200);
    expect(verified.body.state).toBe('APPROVED');
    expect((await utf8.api.get('/v1/me', { token: user.token })).body.email).toBe(email);
  });

  it('mixed scripts and other unusable addresses are a clear 400, never a 500', async () => {
    const user = await signedInUser(utf8.api);
    for (const email of ['p\u0430ypal@example.com', 'user@p\u0430ypal.com', 'a\u202e@example.com', 'user@xn--zz.example', 'jörg@bücher', '\u0301a@example.com']) {
      const res = await utf8.api.post('/v1/email/change', { token: user.token, json: { email, auth: PASSWORD_PROOF(user) } });
      expect(res.status, email).toBe(400);
      expect(res.body.error, email).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: 'email', message: 'is not a valid email address' }] } });
      const availability = await utf8.api.get(`/v1/email/availability?email=${encodeURIComponent(email)}`, { token: user.token });
      expect(availability.body, email).toMatchObject({ available: false, reason: 'invalid' });
    }
    // Validation comes before re-authentication: no try was spent.
    expect((await utf8.api.get('/v1/email/change', { token: user.token })).body.lock.attemptsLeft).toBe(5);
  });
});

describe('a relay without SMTPUTF8', () => {
  it('a UTF-8 local part is refused at the start with 422 EMAIL_NOT_SUPPORTED; no try spent, no request, no mail', async () => {
    const user = await signedInUser(ascii.api);
    const email = `jörg.${unique()}@example.de`;
    const availability = await ascii.api.get(`/v1/email/availability?email=${encodeURIComponent(email)}`, { token: user.token });
    expect(availability.body).toMatchObject({ available: false, reason: 'unsupported' });
    const res = await ascii.api.post('/v1/email/change', { token: user.token, json: { email, auth: { method: 'password', password: 'not the password' } } });
    expect(res.status, res.text).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'EMAIL_NOT_SUPPORTED', details: { reason: 'smtputf8' } });
    expect(res.body.error.message).toContain('SMTPUTF8');
    const status = await ascii.api.get('/v1/email/change', { token: user.token });
    expect(status.body).toMatchObject({ change: null, lock: { attemptsLeft: 5 } });
    expect(ascii.smtp.messagesTo(email)).toEqual([]);
  });

  it('an IDN domain with an ASCII local part still works: it goes out as punycode', async () => {
    const user = await signedInUser(ascii.api);
    const local = `joerg.${unique()}`;
    const email = `${local}@bücher.example`;
    await startChange(ascii.api, user, email);
    const mail = await ascii.smtp.waitForMessage(email);
    expect(mail.envelope).toContain(`RCPT TO:<${local}@xn--bcher-kva.example>`);
    const verified = await ascii.api.post('/v1/email/verify', { json: { token: await tokenFromMail(ascii.smtp, email) } });
    expect(verified.body.state).toBe('APPROVED');
  });
});

describe('the send refused for want of SMTPUTF8 is a permanent, explained delivery failure', () => {
  let vouching: Relay;
  beforeAll(async () => {
    // The API believes SMTP_UTF8=on; the worker asks the relay (auto) and finds it does not offer it.
    vouching = await relayStack(false, { SMTP_UTF8: 'on' });
  });
  afterAll(async () => {
    await vouching?.stop();
  });

  it('one attempt, delivery failed with the reason, nothing sent', async () => {
    const user = await signedInUser(vouching.api);
    const email = `jörg.${unique()}@example.de`;
    await startChange(vouching.api, user, email);
    const { change } = await waitForStatus(vouching.api, user, (b) => b.change?.delivery.new.status === 'failed');
    expect(change.delivery.new).toMatchObject({ status: 'failed', attempts: 1 });
    expect(change.delivery.new.lastError).toMatch(/SMTPUTF8/);
    expect(vouching.smtp.messagesTo(email)).toEqual([]);
  });
});
