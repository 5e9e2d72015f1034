import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLinkToken } from '../../src/tokens';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient } from '../helpers/http';
import { startChange, tokenFromMail } from '../helpers/flow';

/**
 * Issue 6, case 6: two accounts confirm the same address at the same moment, 20 times over (one
 * through the page's form, one through the app's endpoint, the address typed in different case)
 * → every time exactly one owner, the other request DECLINED with EMAIL_TAKEN, and the unique
 * index on verified addresses holds.
 */

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

/** 'won' | 'lost' | anything else as text. */
async function confirm(token: string, door: 'form' | 'json'): Promise<string> {
  if (door === 'json') {
    const res = await api.post('/v1/email/verify', { json: { token } });
    if (res.status === 200 && res.body.state === 'APPROVED' && !res.body.alreadyConfirmed) return 'won';
    if (res.status === 409 && res.body.error?.code === 'EMAIL_TAKEN') return 'lost';
    return `json ${res.status} ${res.text}`;
  }
  const res = await fetch(`${stack.baseUrl}/verify-email`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  const title = /<h1>(.*?)<\/h1>/.exec(await res.text())?.[1];
  if (res.status === 200 && title === 'Your email address is confirmed') return 'won';
  if (res.status === 409 && title === 'This address belongs to another account') return 'lost';
  return `form ${res.status} ${title}`;
}

describe('two accounts confirm one address at the same moment', () => {
  it('exactly one owner every time (×20), the other DECLINED; the unique index holds', { timeout: 120_000 }, async () => {
    const changeOf = (t: string) => verifyLinkToken(stack.config.tokenSecret, t)!.changeId;
    const wins = { first: 0, second: 0 };
    for (let round = 0; round < 20; round++) {
      const address = uniqueEmail('race');
      const [a, b] = await Promise.all([signedInUser(api), signedInUser(api)]);
      const [changeA, changeB] = await Promise.all([startChange(api, a, address), startChange(api, b, address.toUpperCase())]);
      const mailed = [await tokenFromMail(stack.smtp, address, 0), await tokenFromMail(stack.smtp, address, 1)];
      const tokenA = mailed.find((t) => changeOf(t) === changeA.id)!;
      const tokenB = mailed.find((t) => changeOf(t) === changeB.id)!;
      expect(tokenA && tokenB).toBeTruthy();

      const doors = round % 2 === 0 ? (['form', 'json'] as const) : (['json', 'form'] as const);
      const [ra, rb] = await Promise.all([confirm(tokenA, doors[0]), confirm(tokenB, doors[1])]);
      expect([ra, rb].sort(), `round ${round}: ${ra} / ${rb}`).toEqual(['lost', 'won']);
      if (ra === 'won') wins.first++;
      else wins.second++;

      const [winner, loser] = ra === 'won' ? [{ user: a, change: changeA }, { user: b, change: changeB }] : [{ user: b, change: changeB }, { user: a, change: changeA }];
      const owners = await stack.pool.query('SELECT id FROM users WHERE lower(email_normalized) = $1 AND email_verified', [address.toLowerCase()]);
      expect(owners.rows).toEqual([{ id: winner.user.id }]);
      const states = await stack.pool.query<{ id: string; state: string; reason: string | null }>(
        'SELECT id, state, reason FROM email_change_requests WHERE id = ANY($1)',
        [[changeA.id, changeB.id]],
      );
      const stateOf = (id: string) => states.rows.find((r) => r.id === id)!;
      expect(stateOf(winner.change.id).state).toBe('APPROVED');
      expect(stateOf(loser.change.id)).toMatchObject({ state: 'DECLINED', reason: expect.stringMatching(/another account/) });
      // The loser's account is untouched and says so; its link now shows the declined page.
      expect((await api.get('/v1/me', { token: loser.user.token })).body).toMatchObject({ email: null, emailVerified: false, previousEmails: [] });
      expect((await api.get('/v1/email/change', { token: loser.user.token })).body.change).toMatchObject({ state: 'DECLINED' });
    }
    console.log(`[faults] ownership race: the first request won ${wins.first}×, the second ${wins.second}×`);

    // The database itself refuses a second verified owner of an address, whatever its case.
    const [x, y] = await Promise.all([signedInUser(api), signedInUser(api)]);
    const address = uniqueEmail('index');
    await stack.pool.query("UPDATE users SET email = $2, email_normalized = $3, email_verified = true, email_verified_at = now() WHERE id = $1", [x.id, address, address.toLowerCase()]);
    await expect(
      stack.pool.query("UPDATE users SET email = $2, email_normalized = $3, email_verified = true, email_verified_at = now() WHERE id = $1", [y.id, address.toUpperCase(), address.toUpperCase()]),
    ).rejects.toMatchObject({ constraint: 'users_verified_email_key' });
  });
});
