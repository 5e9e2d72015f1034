import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { userWithVerifiedEmail } from '../helpers/flow';

/** Issue #9 item 8: nobody floods an address with mail, and no mail carries text the requester chose. */
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ LIMIT_START_PER_USER: '4/1h', LIMIT_START_PER_ADDRESS: '2/1h', RESEND_COOLDOWN: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const start = (user: TestUser, email: string, password = user.password, headers: Record<string, string> = {}) =>
  api.post('/v1/email/change', { token: user.token, json: { email, auth: { method: 'password', password } }, headers });

describe('start limits', () => {
  it('per target address, across accounts: the third account asking to mail one victim gets 429 and the victim no third mail', async () => {
    const victim = uniqueEmail('victim');
    const [a, b, c] = [await signedInUser(api), await signedInUser(api), await signedInUser(api)];
    expect((await start(a, victim)).status).toBe(202);
    expect((await start(b, victim)).status).toBe(202);
    await stack.smtp.waitForMessage(victim, { seen: 1 });
    const third = await start(c, victim);
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('RATE_LIMITED');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    await sleep(500);
    expect(stack.smtp.messagesTo(victim)).toHaveLength(2);
  });

  it('per user: after the allowance every start is 429 (before any password is checked), with no mail', async () => {
    const user = await signedInUser(api);
    const emails = Array.from({ length: 5 }, (_, i) => uniqueEmail(`per-user-${i}`));
    for (const email of emails.slice(0, 4)) expect((await start(user, email)).status).toBe(202);
    const over = await start(user, emails[4]!);
    expect(over.status).toBe(429);
    // Refused before re-authentication: a wrong password is not even tried, and costs no attempt.
    const wrong = await start(user, emails[4]!, 'not the password');
    expect(wrong.status).toBe(429);
    expect((await api.get('/v1/email/change', { token: user.token })).body.lock.attemptsLeft).toBe(5);
    await sleep(500);
    expect(stack.smtp.messagesTo(emails[4]!)).toHaveLength(0);
  });

  it('resends to a flooded address are refused too', async () => {
    const user = await signedInUser(api);
    const target = uniqueEmail('resend-flood');
    expect((await start(user, target)).status).toBe(202);
    expect((await start(await signedInUser(api), target)).status).toBe(202); // the address's allowance is now spent
    await stack.smtp.waitForMessage(target, { seen: 1 });
    await sleep(1_100); // past the resend cooldown: what refuses now is the address's limit
    const resend = await api.post('/v1/email/change/resend', { token: user.token });
    expect(resend.status).toBe(429);
    expect(resend.body.error.message).toMatch(/address/i);
    await sleep(300);
    expect(stack.smtp.messagesTo(target)).toHaveLength(2);
  });
});

describe('no requester-chosen text in mail', () => {
  const hostileAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36 URGENT call +1-555-0100 or visit https://evil.example/claim';

  it('both mails of a change say who asked in plain facts only: no username, no User-Agent text', async () => {
    const { user, email: oldEmail } = await userWithVerifiedEmail(api, stack.smtp, 'ua-old');
    const newEmail = uniqueEmail('ua-new');
    const res = await start(user, newEmail, user.password, { 'user-agent': hostileAgent });
    expect(res.status).toBe(202);
    const mails = [await stack.smtp.waitForMessage(newEmail), await stack.smtp.waitForMessage(oldEmail, { seen: 1 })];
    for (const mail of mails) {
      for (const text of [mail.text, mail.html]) {
        expect(text).toContain('Chrome on Windows');
        expect(text).not.toMatch(/evil\.example|URGENT|555-0100|Mozilla/);
        expect(text).not.toContain(user.username);
      }
      expect(mail.links.filter((l) => !l.startsWith(stack.baseUrl))).toEqual([]);
    }
  });

  it('an unknown User-Agent names no device at all', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('ua-unknown');
    expect((await start(user, email, user.password, { 'user-agent': 'Totally-Legit-Bank-Support/1.0 (call us)' })).status).toBe(202);
    const mail = await stack.smtp.waitForMessage(email);
    expect(mail.text).not.toMatch(/Legit|Bank|call us/);
    expect(mail.text).toMatch(/^Requested on .+, after the account holder re-authenticated with a password\.$/m);
  });
});

