import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { linkIn, startChange, tokenFromMail } from '../helpers/flow';
import { sleep } from '../helpers/services';

/**
 * Issue 6, case 7 (HTTP scanners; the headless Chromium is link-scanner-chromium.test.ts): mail
 * security scanners prefetch every link — HEAD, cookieless GETs with scanner user agents and
 * prefetch hints, GETs of every URL and form target on the page — and none of it confirms or
 * resends anything. Only the person's button press (the form POST) confirms.
 */

let stack: TestStack;
let shortLinks: TestStack;
let api: ApiClient;
beforeAll(async () => {
  [stack, shortLinks] = await Promise.all([startStack(), startStack({ EMAIL_LINK_TTL: '1s', RESEND_COOLDOWN: '1s' })]);
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await Promise.all([stack?.stop(), shortLinks?.stop()]);
});

const SCANNER_HEADERS: Record<string, string>[] = [
  {},
  { 'user-agent': 'Mozilla/5.0 (compatible; Microsoft-Exchange-Safelinks/15.20)' },
  { 'user-agent': 'Proofpoint URL Defense', accept: '*/*' },
  { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36', accept: 'text/html,application/xhtml+xml' },
  { 'user-agent': 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' },
  { purpose: 'prefetch', 'sec-purpose': 'prefetch' },
  { 'x-moz': 'prefetch', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' },
  { 'accept-language': 'de-DE', 'cache-control': 'no-cache', pragma: 'no-cache' },
];

/** Everything a link-following scanner would fetch with a GET from a page: links, form targets, assets. */
function urlsOn(html: string, base: string): string[] {
  const found = [...html.matchAll(/(?:href|src|action)="([^"]*)"/g)].map((m) => new URL(m[1]!.replace(/&amp;/g, '&'), base).toString());
  return [...new Set(found)];
}

/** A scanner's visit: HEAD, then GETs with every header set (each twice, following redirects), then every URL on the page. */
async function scan(link: string): Promise<number[]> {
  const statuses: number[] = [];
  const head = await fetch(link, { method: 'HEAD', redirect: 'manual' });
  statuses.push(head.status);
  let html = '';
  for (const headers of SCANNER_HEADERS) {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(link, { headers, redirect: 'follow' });
      statuses.push(res.status);
      html = await res.text();
    }
  }
  for (const url of urlsOn(html, link)) {
    for (const method of ['GET', 'HEAD']) statuses.push((await fetch(url, { method, redirect: 'follow' })).status);
  }
  // Some scanners try the query string on every path of the site.
  const token = new URL(link).searchParams.get('token')!;
  for (const path of ['/verify-email/resend', '/v1/email/verify', '/verify-email/']) {
    statuses.push((await fetch(`${new URL(link).origin}${path}?token=${token}`, { redirect: 'manual' })).status);
  }
  statuses.push((await fetch(link, { method: 'OPTIONS' })).status);
  return statuses;
}

async function pendingStatus(s: TestStack, user: TestUser) {
  return (await apiClient(s.baseUrl).get('/v1/email/change', { token: user.token })).body.change;
}

describe('link scanners confirm nothing', () => {
  it('HEAD, cookieless GETs and GETs of every URL on the page leave both links unconfirmed; the button confirms', async () => {
    const user = await signedInUser(api);
    const oldEmail = uniqueEmail('scan-old');
    await startChange(api, user, oldEmail);
    expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, oldEmail) } })).body.state).toBe('APPROVED');
    const newEmail = uniqueEmail('scan-new');
    const change = await startChange(api, user, newEmail);
    const links = { new: linkIn(await stack.smtp.waitForMessage(newEmail)), old: linkIn(await stack.smtp.waitForMessage(oldEmail, { seen: 1 })) };

    for (const link of [links.new, links.old]) {
      const statuses = await scan(link);
      expect(statuses.filter((s) => s >= 500), `${statuses}`).toEqual([]);
    }
    // Scanners twice over, concurrently, as several gateways on the path would.
    await Promise.all([scan(links.new), scan(links.old), scan(links.new)]);

    const status = await pendingStatus(stack, user);
    expect(status).toMatchObject({ id: change.id, state: 'REQUESTED', confirmations: { new: false, old: false }, resendsLeft: 5 });
    expect(stack.smtp.messagesTo(newEmail)).toHaveLength(1);
    expect(stack.smtp.messagesTo(oldEmail)).toHaveLength(2);
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: oldEmail, emailVerified: true });

    // The person: open the page, press the button the page shows (its form, as rendered).
    for (const [purpose, link] of Object.entries(links)) {
      const html = await (await fetch(link)).text();
      const form = /<form method="post" action="([^"]+)"><input type="hidden" name="token" value="([^"]+)"><button type="submit">Confirm<\/button>/.exec(html);
      expect(form, `${purpose} page has a Confirm form`).not.toBeNull();
      const press = await fetch(new URL(form![1]!, link), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: form![2]! }).toString(),
      });
      expect(press.status).toBe(200);
    }
    expect(await pendingStatus(stack, user)).toMatchObject({ id: change.id, state: 'APPROVED', confirmations: { new: true, old: true } });
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: newEmail, emailVerified: true });
  });

  it('scanning an expired link\'s page (with its "Send a new link" button) sends nothing', async () => {
    const shortApi = apiClient(shortLinks.baseUrl);
    const user = await signedInUser(shortApi);
    const email = uniqueEmail('scan-expired');
    await startChange(shortApi, user, email);
    const link = linkIn(await shortLinks.smtp.waitForMessage(email));
    await sleep(1_500); // the link expired; the resend cooldown is over
    const page = await fetch(link);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('action="/verify-email/resend"');

    const statuses = await scan(link);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    await sleep(500);
    expect(shortLinks.smtp.messagesTo(email)).toHaveLength(1);
    expect(await pendingStatus(shortLinks, user)).toMatchObject({ state: 'REQUESTED', resendsLeft: 5, confirmations: { new: false } });

    // The person presses "Send a new link": one new mail.
    const press = await fetch(`${shortLinks.baseUrl}/verify-email/resend`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: new URL(link).searchParams.get('token')! }).toString(),
    });
    expect(press.status).toBe(202);
    await shortLinks.smtp.waitForMessage(email, { seen: 1 });
    expect(await pendingStatus(shortLinks, user)).toMatchObject({ state: 'REQUESTED', resendsLeft: 4 });
  });
});
