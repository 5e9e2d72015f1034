import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, type ApiClient } from '../helpers/http';
import { approvedChange, undoLinkIn } from './revert-flow';

/**
 * Issue #15 item 4 in a real browser (Debian's chromium, driven by playwright-core): the undo link's
 * page loads (scripts, reloads: nothing happens), a press of its button undoes the change and the
 * result page says so. Needs /usr/bin/chromium; without it this file fails, on purpose.
 */

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let stack: TestStack;
let api: ApiClient;
let browser: BrowserContext;
let userDataDir: string;
beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: this test needs Debian's chromium (apt-get install -y chromium)`);
  stack = await startStack();
  api = apiClient(stack.baseUrl);
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-undo-'));
  browser = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
});
afterAll(async () => {
  await browser?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  await stack?.stop();
});

describe("the undo page in Chromium", () => {
  it('GET shows the page (twice, nothing happens), the button undoes the change, the result page says so', { timeout: 120_000 }, async () => {
    const { user, oldEmail, newEmail } = await approvedChange(stack, api, 'chromium-undo');
    const link = undoLinkIn(await stack.smtp.waitForMessage(oldEmail, { seen: 2 }));
    const page = await browser.newPage();
    try {
      await page.goto(link, { waitUntil: 'networkidle' });
      await page.reload({ waitUntil: 'networkidle' });
      expect(await page.textContent('h1')).toBe('Undo the change of your account email?');
      expect(await page.textContent('main')).toContain('signs out every session');
      expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: newEmail }); // looking changed nothing

      await Promise.all([page.waitForURL(/\/undo-email-change$/), page.click('button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('The change was undone');
      expect(await page.textContent('main')).toContain(oldEmail);
      expect(await page.textContent('main')).toMatch(/Email changes are paused until/);

      // Back to the link afterwards: already done.
      await page.goto(link, { waitUntil: 'networkidle' });
      expect(await page.textContent('h1')).toBe('Already undone');
    } finally {
      await page.close();
    }
    expect((await api.get('/v1/me', { token: user.token })).status).toBe(401); // every session was revoked
    const signedIn = await api.post('/v1/sessions', { json: { username: user.username, password: user.password } });
    expect((await api.get('/v1/me', { token: signedIn.body.token })).body).toMatchObject({ email: oldEmail, emailVerified: true });
  });
});
