import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

describe('R-MAIL delivery you can trust', () => {
  it('421 then 451: retried with backoff, status shows "retrying" then "sent", the mail arrives exactly once', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('tempfail');
    stack.smtp.failNext(1, 421, '421 4.3.2 Service not available, try later');
    stack.smtp.failNext(1, 451, '451 4.3.0 Local error in processing');
    await startChange(api, user, email);

    const retrying = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'retrying');
    expect(retrying.change.delivery.new.lastError).toMatch(/SMTP 4\d\d/);
    const sent = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'sent', 30_000);
    expect(sent.change.delivery.new.attempts).toBe(3);
    await tokenFromMail(stack.smtp, email);
    await new Promise((r) => setTimeout(r, 500));
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
    const row = await stack.pool.query("SELECT status, attempts FROM mail_messages WHERE recipient = $1", [email]);
    expect(row.rows).toEqual([{ status: 'sent', attempts: 3 }]);
  });

  it('550: not retried, "failed" with the reason; the user starts over with a corrected address', async () => {
    const user = await signedInUser(api);
    const wrong = uniqueEmail('nosuchuser');
    stack.smtp.failNext(1, 550, '550 5.1.1 No such mailbox');
    await startChange(api, user, wrong);
    const failed = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'failed');
    expect(failed.change.delivery.new).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringMatching(/SMTP 550/) });
    expect(failed.change.state).toBe('REQUESTED');
    expect(stack.smtp.messagesTo(wrong)).toHaveLength(0);

    const corrected = uniqueEmail('corrected');
    await startChange(api, user, corrected);
    const ok = await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, corrected) } });
    expect(ok.body.state).toBe('APPROVED');
  });

  it('mail is multipart text + HTML, says who asked and when the link expires, loads no remote content', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('content');
    await startChange(api, user, email);
    const mail = await stack.smtp.waitForMessage(email);
    expect(mail.text).toMatch(/Requested on .+ from the network address 127\.0\.0\.1, after the account holder re-authenticated with a password/);
    expect(mail.text).toMatch(/expires on \w{3}, \d{2} \w{3} \d{4}/);
    expect(mail.text).toContain("If this wasn't you");
    expect(mail.html).toContain('Review and confirm');
    expect(mail.html).not.toMatch(/<img|<script|src=/i);
    expect(mail.headers['message-id']).toMatch(/^<[0-9a-f]{32}@example\.com>$/);
  });

  it('a hostile User-Agent cannot inject mail headers', async () => {
    // The User-Agent never reaches the mail (a device name from a fixed list at most); nothing of it reaches the headers either.
    const user = await signedInUser(api);
    const email = uniqueEmail('inject');
    const res = await api.post('/v1/email/change', {
      token: user.token,
      json: { email, auth: { method: 'password', password: user.password } },
      headers: { 'user-agent': 'evil\tBcc: victim@example.com' },
    });
    expect(res.status).toBe(202);
    const mail = await stack.smtp.waitForMessage(email);
    expect(mail.to).toEqual([email]);
    expect(Object.keys(mail.headers)).not.toContain('bcc');
    expect(mail.text).not.toContain('evil');
  });
});
