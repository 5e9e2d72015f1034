import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail, waitForStatus } from '../helpers/flow';

/**
 * The workflow's patched() change (SKIP_EXPIRED_LINK_MAIL, issue #13): a mail still being retried
 * when its link has expired is not sent (it would carry a dead link); delivery says "failed" and why,
 * and a resend mails a fresh link.
 */
let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ EMAIL_LINK_TTL: '3s', RESEND_COOLDOWN: '1s' });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

describe('a link that expires while its mail is retried', () => {
  it('is not mailed; delivery says failed with the reason; a resend mails a fresh link', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('expired-retry');
    // Tries at ~0 s and ~2 s fail (421); the next falls due at ~6 s, after the 3 s link expired.
    stack.smtp.failNext(2, 421, '421 try again later');
    await startChange(api, user, email);
    const failed = await waitForStatus(api, user, (b) => b.change?.delivery.new.status === 'failed', 30_000);
    expect(failed.change.delivery.new).toMatchObject({ status: 'failed', attempts: 2, lastError: expect.stringMatching(/link expired before the mail could be sent/) });
    expect(stack.smtp.messagesTo(email)).toHaveLength(0);

    const resent = await api.post('/v1/email/change/resend', { token: user.token });
    expect(resent.status).toBe(202);
    const token = await tokenFromMail(stack.smtp, email);
    const confirmed = await api.post('/v1/email/verify', { json: { token } });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.state).toBe('APPROVED');
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
  });
});
