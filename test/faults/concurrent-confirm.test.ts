import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { linkIn, startChange, tokenFromMail, tokenOf } from '../helpers/flow';
import { sleep } from '../helpers/services';

/**
 * Issue 6, case 5: one link confirmed 50 times at once, through both doors (the page's form POST
 * /verify-email and the app's POST /v1/email/verify) → exactly one success, every other answer
 * "already confirmed", never a 5xx, and the old address gets exactly one change notice.
 */

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

type Outcome = 'confirmed' | 'already' | string;

async function confirmByForm(token: string): Promise<Outcome> {
  const res = await fetch(`${stack.baseUrl}/verify-email`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  const html = await res.text();
  const title = /<h1>(.*?)<\/h1>/.exec(html)?.[1] ?? html.slice(0, 200);
  if (res.status === 200 && title === 'Your email address is confirmed') return 'confirmed';
  if (res.status === 200 && title === 'Already confirmed') return 'already';
  return `form ${res.status} ${title}`;
}

async function confirmByApi(token: string): Promise<Outcome> {
  const res = await api.post('/v1/email/verify', { json: { token } });
  if (res.status === 200 && res.body.state === 'APPROVED') return res.body.alreadyConfirmed ? 'already' : 'confirmed';
  return `json ${res.status} ${res.text}`;
}

describe('50 concurrent confirmations of one link', () => {
  it('exactly one success, 49 "already confirmed", no 5xx, one notice mail (3 rounds)', { timeout: 120_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      const user = await signedInUser(api);
      const oldEmail = uniqueEmail('burst-old');
      await startChange(api, user, oldEmail);
      expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, oldEmail) } })).body.state).toBe('APPROVED');

      const newEmail = uniqueEmail('burst-new');
      const change = await startChange(api, user, newEmail);
      const newToken = await tokenFromMail(stack.smtp, newEmail);
      const oldToken = tokenOf(linkIn(await stack.smtp.waitForMessage(oldEmail, { seen: 1 })));
      // The old address confirms first; the burst on the new link is the one that completes the change.
      expect((await api.post('/v1/email/verify', { json: { token: oldToken } })).body).toMatchObject({ state: 'REQUESTED', confirmations: { old: true, new: false } });

      const outcomes = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? confirmByForm(newToken) : confirmByApi(newToken))),
      );
      const tally = outcomes.reduce<Record<string, number>>((t, o) => ({ ...t, [o]: (t[o] ?? 0) + 1 }), {});
      console.log(`[faults] round ${round + 1}: ${JSON.stringify(tally)}`);
      expect(tally, JSON.stringify(tally)).toEqual({ confirmed: 1, already: 49 });

      const me = (await api.get('/v1/me', { token: user.token })).body;
      expect(me).toMatchObject({ email: newEmail, emailVerified: true });
      expect(me.previousEmails.map((p: { email: string }) => p.email)).toEqual([oldEmail]);
      const row = await stack.pool.query('SELECT state FROM email_change_requests WHERE id = $1', [change.id]);
      expect(row.rows[0].state).toBe('APPROVED');

      const notice = await stack.smtp.waitForMessage(oldEmail, { seen: 2 });
      expect(notice.subject).toBe('Your account email was changed');
      await sleep(1_000);
      // old address: the add's link, the change's link, one notice; new address: one link.
      expect(stack.smtp.messagesTo(oldEmail)).toHaveLength(3);
      expect(stack.smtp.messagesTo(newEmail)).toHaveLength(1);
      const history = await stack.pool.query('SELECT count(*)::int AS n FROM email_history WHERE change_request_id = $1', [change.id]);
      expect(history.rows[0].n).toBe(1);
    }
  });
});
