import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { linkIn, startChange, tokenFromMail } from '../helpers/flow';

/**
 * Issue 6, case 7 (browser scanner): a headless Chromium (Debian's `chromium`, driven by
 * playwright-core) opens the mailed links like a sandboxing mail scanner — loads the page, runs
 * its scripts, follows every link on it — and confirms nothing. Only a press of the page's
 * Confirm button does.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`); without it this file fails, on purpose.
 */

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let stack: TestStack;
let api: ApiClient;
let browser: BrowserContext;
let userDataDir: string;
beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: this test needs Debian's chromium (apt-get install -y chromium)`);
  }
  stack = await startStack();
  api = apiClient(stack.baseUrl);
  // A new, empty profile: no cookies, no cache, nothing from an earlier run.
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-scanner-'));
  browser = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
});
afterAll(async () => {
  await browser?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  await stack?.stop();
});

const status = async (user: TestUser) => (await api.get('/v1/email/change', { token: user.token })).body.change;

/** What a browser-based scanner does with one link: load it, let scripts run, follow every link and asset on it. */
async function scanWithBrowser(link: string): Promise<{ visited: string[]; statuses: number[] }> {
  const page = await browser.newPage();
  const statuses: number[] = [];
  page.on('response', (res) => statuses.push(res.status()));
  try {
    await page.goto(link, { waitUntil: 'networkidle' });
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 500))); // timers and scripts, if any
    const urls = await page
      .locator('a[href], link[href], img[src], script[src], iframe[src], form[action]')
      .evaluateAll((els) => els.map((el) => {
        const e = el as unknown as { href?: string; src?: string; action?: string };
        return e.href || e.src || e.action || '';
      }));
    const visited = [link];
    for (const url of new Set(urls)) {
      if (!url.startsWith('http')) continue;
      await page.goto(url, { waitUntil: 'networkidle' }).catch(() => undefined);
      visited.push(url);
    }
    // Scanners also reload and go back and forth.
    await page.goto(link, { waitUntil: 'networkidle' });
    await page.reload({ waitUntil: 'networkidle' });
    return { visited, statuses };
  } finally {
    await page.close();
  }
}

describe('a headless Chromium scanner', () => {
  it('loads both links, runs scripts, follows links: nothing confirmed; pressing Confirm does it', { timeout: 120_000 }, async () => {
    const user = await signedInUser(api);
    const oldEmail = uniqueEmail('chromium-old');
    await startChange(api, user, oldEmail);
    expect((await api.post('/v1/email/verify', { json: { token: await tokenFromMail(stack.smtp, oldEmail) } })).body.state).toBe('APPROVED');
    const newEmail = uniqueEmail('chromium-new');
    const change = await startChange(api, user, newEmail);
    const links = [linkIn(await stack.smtp.waitForMessage(newEmail)), linkIn(await stack.smtp.waitForMessage(oldEmail, { seen: 1 }))];

    for (const link of links) {
      const { statuses } = await scanWithBrowser(link);
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
    }
    expect(await status(user)).toMatchObject({ id: change.id, state: 'REQUESTED', confirmations: { new: false, old: false }, resendsLeft: 5 });
    expect(stack.smtp.messagesTo(newEmail)).toHaveLength(1);

    // The person: the same browser, the same page, one press of the button on each.
    const page = await browser.newPage();
    try {
      await page.goto(links[0]!);
      expect(await page.textContent('h1')).toBe('Confirm your email address');
      await Promise.all([page.waitForURL(/\/verify-email$/), page.click('button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('Confirmed, one step left');
      expect(await status(user)).toMatchObject({ state: 'REQUESTED', confirmations: { new: true, old: false } });

      await page.goto(links[1]!);
      expect(await page.textContent('h1')).toBe('Confirm the change of your account email');
      await Promise.all([page.waitForURL(/\/verify-email$/), page.click('button[type=submit]')]);
      // The old address confirmed last: the change is complete, to the new address (issue #15: never "this address").
      expect(await page.textContent('h1')).toBe('The email change is complete');
    } finally {
      await page.close();
    }
    expect(await status(user)).toMatchObject({ id: change.id, state: 'APPROVED', confirmations: { new: true, old: true } });
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: newEmail, emailVerified: true });

    // A scanner revisiting the links afterwards changes nothing either.
    for (const link of links) await scanWithBrowser(link);
    expect(await status(user)).toMatchObject({ id: change.id, state: 'APPROVED' });
  });
});
