import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../src/dev/ports';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { serviceEnv, startInProcessWorker, type InProcessWorker } from '../helpers/services';
import { apiClient, uniqueEmail } from '../helpers/http';
import { clickAndConfirm, linkIn } from '../helpers/flow';
import { startEmbeddedApi } from './embedded-api';

/**
 * Issue #14 item 4: the whole flow in a browser, on /demo. Headless Chromium (Debian's `chromium`,
 * driven by playwright-core) signs up, registers a WebCrypto device key, starts an add signed with
 * it, watches "link sent" arrive on the live status stream, opens the link from the outbox panel,
 * confirms it on the link page in the new tab, and sees APPROVED on the demo page without a reload.
 * Real worker, API (wired as `npm start` wires it, outbox included), SMTP capture, Temporal and
 * PostgreSQL. Needs /usr/bin/chromium; without it this file fails, on purpose.
 */

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let smtp: SmtpCapture;
let worker: InProcessWorker;
let embedded: Awaited<ReturnType<typeof startEmbeddedApi>>;
let browser: Browser;
beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: this test needs Debian's chromium (apt-get install -y chromium)`);
  smtp = await startSmtpCapture();
  const env = serviceEnv({ smtpUrl: smtp.url, port: await freePort() });
  worker = await startInProcessWorker(env);
  embedded = await startEmbeddedApi(env, smtp);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
});
afterAll(async () => {
  await browser?.close();
  await embedded?.stop();
  await worker?.stop();
  await smtp?.stop();
});

/** Waits until the element's text contains `text` (Playwright's timeout error names what was awaited). */
const waitForText = (page: Page, selector: string, text: string) => page.locator(selector, { hasText: text }).waitFor({ timeout: 30_000 });

/** Steps 1-3 on the page: sign up (the page signs in right after), register a device key, start an add signed with it. */
async function signUpRegisterAndStart(page: Page, username: string, password: string, newEmail: string) {
  // 1. Sign up (the page signs in right after).
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await waitForText(page, '#who', `Signed in as ${username}; email: none yet`);

  // 2. A WebCrypto device key, authorised with the password.
  await page.getByLabel('Password, to authorise the key').fill(password);
  await page.getByRole('button', { name: 'Register device key' }).click();
  await waitForText(page, '#device', 'Device key "Demo browser" registered');

  // 3. Start an add, re-authenticated by a signature over a fresh challenge.
  await page.getByLabel('New email address').fill(newEmail);
  await page.getByRole('button', { name: 'Start, signed with the device key' }).click();
}

describe('/demo in Chromium', () => {
  it('signs up, registers a device key, starts an add signed with it, confirms from the outbox and sees APPROVED live', { timeout: 180_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
    page.on('pageerror', (err) => problems.push(err.message));
    let demoLoads = 0;
    page.on('framenavigated', (frame) => frame === page.mainFrame() && demoLoads++);
    const username = `demo_${process.pid}_${Date.now().toString(36)}`;
    const password = 'correct horse battery staple';
    const newEmail = uniqueEmail('demo');
    try {
      const response = await page.goto(`${embedded.baseUrl}/demo`);
      expect(response?.status()).toBe(200);
      // A strict policy: only this response's nonce'd inline style and script run, and no form can submit anywhere.
      const csp = response!.headers()['content-security-policy']!;
      expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
      expect(csp).toContain("form-action 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(await page.textContent('h1')).toBe('Email change demo');

      await signUpRegisterAndStart(page, username, password, newEmail);

      // 4. The status says the link went out, pushed by the stream.
      await waitForText(page, '#status', `New address ${newEmail}: link sent, waiting for the click`);
      expect(await page.textContent('#status')).toContain(`REQUESTED: adding ${newEmail}`);
      expect(await page.getAttribute('#status-mode', 'data-mode')).toBe('stream');
      expect(await page.getAttribute('#status', 'aria-live')).toBe('polite');

      // The server saw a biometric proof: the mail says so, and the device's challenge was spent.
      const mail = await smtp.waitForMessage(newEmail);
      expect(mail.text).toContain('re-authenticated with a biometric device key');
      const spent = await embedded.pool.query(
        `SELECT d.name FROM auth_challenges c JOIN devices d ON d.id = c.device_id JOIN users u ON u.id = c.user_id
          WHERE u.username = $1 AND c.used_at IS NOT NULL`,
        [username],
      );
      expect(spent.rows).toEqual([{ name: 'Demo browser' }]);

      // 5. The outbox panel shows the mail; its link opens the link page in a new tab.
      await page.evaluate(() => ((globalThis as any).demoMarker = 'still the same page'));
      const link = page.getByRole('link', { name: `Open the link in "${mail.subject}"` });
      await link.waitFor({ timeout: 30_000 });
      expect(await link.getAttribute('href')).toBe(mail.links.find((l) => new URL(l).pathname === '/verify-email'));
      const [linkPage] = await Promise.all([context.waitForEvent('page'), link.click()]);
      await linkPage.waitForLoadState();
      expect(await linkPage.textContent('h1')).toBe('Confirm your email address');
      await Promise.all([linkPage.waitForURL(/\/verify-email$/), linkPage.getByRole('button', { name: 'Confirm' }).click()]);
      expect(await linkPage.textContent('h1')).toBe('Your email address is confirmed');

      // Back on the demo page, APPROVED arrives without a reload.
      await waitForText(page, '#status', `APPROVED: adding ${newEmail}`);
      expect(await page.textContent('#status')).toContain(`Done: the account's email is now ${newEmail}.`);
      expect(await page.getAttribute('#status', 'data-state')).toBe('APPROVED');
      expect(await page.evaluate(() => (globalThis as any).demoMarker)).toBe('still the same page');
      expect(demoLoads).toBe(1);
      expect(await page.getAttribute('#status-mode', 'data-mode')).toBe('stream');
      expect(problems).toEqual([]);
      // No personal data in a URL: the demo page never left /demo.
      expect(page.url()).toBe(`${embedded.baseUrl}/demo`);

      // And the account really changed.
      const api = apiClient(embedded.baseUrl);
      const session = await api.post('/v1/sessions', { json: { username, password } });
      expect((await api.get('/v1/me', { token: session.body.token })).body).toMatchObject({ email: newEmail, emailVerified: true });
    } finally {
      await context.close();
    }
  });

  it('falls back to polling GET /v1/email/change when the server has no stream (404), and says so', { timeout: 180_000 }, async () => {
    const context = await browser.newContext();
    // A server from before the stream: the route answers 404 as an unknown route does.
    await context.route('**/v1/email/change/events', (route) =>
      route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ error: { code: 'NOT_FOUND', message: 'No route for GET /v1/email/change/events' } }) }),
    );
    const page = await context.newPage();
    const username = `demo_poll_${process.pid}_${Date.now().toString(36)}`;
    const password = 'correct horse battery staple';
    const newEmail = uniqueEmail('demo-poll');
    try {
      await page.goto(`${embedded.baseUrl}/demo`);
      await signUpRegisterAndStart(page, username, password, newEmail);
      await waitForText(page, '#status', `New address ${newEmail}: link sent, waiting for the click`);
      expect(await page.getAttribute('#status-mode', 'data-mode')).toBe('polling');
      expect(await page.textContent('#status-mode')).toContain('polling GET /v1/email/change every 2 s');

      // Confirmed outside the page (as a person on another device would): the next poll shows it.
      const { post } = await clickAndConfirm(linkIn(await smtp.waitForMessage(newEmail)));
      expect(post.status).toBe(200);
      await waitForText(page, '#status', `APPROVED: adding ${newEmail}`);
      expect(await page.getAttribute('#status-mode', 'data-mode')).toBe('polling');
    } finally {
      await context.close();
    }
  });
});
