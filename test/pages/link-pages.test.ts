import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTemplates } from '../../src/i18n/templates';
import { maskEmail } from '../../src/mail/templates';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, call, contractStats, signedInUser, uniqueEmail, type ApiClient, type TestUser } from '../helpers/http';
import { linkIn, startChange, tokenOf, userWithVerifiedEmail } from '../helpers/flow';

/**
 * Issue #15 items 1-2 against the real worker, API, PostgreSQL, Temporal and SMTP: the pages and
 * mails name the app and lead back to it, say the truth for each step, show the wait, follow the
 * account's stored language (else the browser's) and time zone, and come from TEMPLATES_DIR.
 */

const APP = { APP_NAME: 'Himal Wallet', APP_URL: 'himalwallet://settings/email', SUPPORT_URL: 'https://help.himal.example/email' };
let stack: TestStack;
let api: ApiClient;
let templatesDir: string;
beforeAll(async () => {
  // An operator's copy of the built-in templates, each marked, so the test sees that they are the ones used.
  templatesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'templates-'));
  exportTemplates(templatesDir);
  const pageFile = path.join(templatesDir, 'page.html');
  fs.writeFileSync(pageFile, fs.readFileSync(pageFile, 'utf8').replace('<main>', '<main data-template="operator">'));
  fs.appendFileSync(path.join(templatesDir, 'mail.txt'), 'operator template\n');
  stack = await startStack({ ...APP, TEMPLATES_DIR: templatesDir, RESEND_COOLDOWN: '90s' });
  api = apiClient(stack.baseUrl);
});
afterAll(async () => {
  await stack?.stop();
  if (templatesDir) fs.rmSync(templatesDir, { recursive: true, force: true });
});

const h1 = (html: string) => /<h1>(.*?)<\/h1>/.exec(html)?.[1];
// Through call(), so every page is checked against the OpenAPI document too.
const open = (link: string, headers: Record<string, string> = {}) => call(link, 'GET', '', { headers });
const press = (action: string, token: string, headers: Record<string, string> = {}) =>
  call(stack.baseUrl, 'POST', action, { headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, raw: new URLSearchParams({ token }).toString() });

/** Signs up with a stored language and time zone, as POST /v1/users accepts them. */
async function userWithLocale(locale: string, timeZone?: string): Promise<TestUser> {
  const username = `i18n_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const password = 'correct horse battery staple';
  const created = await api.post('/v1/users', { json: { username, password, locale, ...(timeZone ? { timeZone } : {}) } });
  expect(created.status, created.text).toBe(201);
  const session = await api.post('/v1/sessions', { json: { username, password } });
  return { id: created.body.id, username, password, token: session.body.token };
}

/** A verified user who starts a change: the links of both mails. */
async function pendingUpdate(tag: string) {
  const { user, email: oldEmail } = await userWithVerifiedEmail(api, stack.smtp, `${tag}-old`);
  const newEmail = uniqueEmail(`${tag}-new`);
  await startChange(api, user, newEmail);
  const newMail = await stack.smtp.waitForMessage(newEmail);
  const oldMail = await stack.smtp.waitForMessage(oldEmail, { seen: 1 });
  return { user, oldEmail, newEmail, newMail, oldMail, newLink: linkIn(newMail), oldLink: linkIn(oldMail) };
}

describe('branding and return paths on every page and mail', () => {
  it('the confirm pages name the app and the address; the old address sees both masked; every page leads back', async () => {
    const { oldEmail, newEmail, newMail, oldMail, newLink, oldLink } = await pendingUpdate('brand');

    const oldPage = await open(oldLink);
    const oldHtml = oldPage.text;
    expect(oldPage.status).toBe(200);
    expect(h1(oldHtml)).toBe('Confirm the change of your account email');
    expect(oldHtml).toContain(`Your Himal Wallet account is asking to change its email address from <strong>${maskEmail(oldEmail)}</strong> to <strong>${maskEmail(newEmail)}</strong>.`);
    expect(oldHtml).not.toContain(newEmail);
    expect(oldHtml).not.toContain(oldEmail);

    const newPage = await open(newLink);
    const newHtml = newPage.text;
    expect(h1(newHtml)).toBe('Confirm your email address');
    expect(newHtml).toContain(`Confirm <strong>${newEmail}</strong> as the new email address of your Himal Wallet account.`);
    expect(newHtml).toMatch(/This link works until <strong>\w{3}, \d{2} \w{3} \d{4}, \d{2}:\d{2} UTC<\/strong>\./);
    expect(newHtml).not.toContain(oldEmail);

    for (const html of [oldHtml, newHtml]) {
      expect(html).toContain('<title>');
      expect(html).toContain('<span>Himal Wallet</span>');
      expect(html).toContain(`<a href="${APP.APP_URL}">Back to Himal Wallet</a>`);
      expect(html).toContain(`<a href="${APP.SUPPORT_URL}">Help and support</a>`);
      expect(html).toContain('<main data-template="operator">'); // TEMPLATES_DIR's page.html
    }
    expect(newPage.headers.get('content-language')).toBe('en');

    for (const mail of [newMail, oldMail]) {
      expect(mail.text).toContain('Himal Wallet');
      expect(mail.text).toContain(`Back to Himal Wallet: ${APP.APP_URL}`);
      expect(mail.text).toContain(`Help and support: ${APP.SUPPORT_URL}`);
      expect(mail.text).toContain('operator template'); // TEMPLATES_DIR's mail.txt
      expect(mail.html).toContain(`href="${APP.SUPPORT_URL}"`);
    }
    expect(newMail.text).toContain('Someone asked to make this the email address of their Himal Wallet account.');
    expect(oldMail.text).toContain(`Someone asked to change the email address of your Himal Wallet account from this address to ${maskEmail(newEmail)}.`);
  });

  it('the old address confirming first hears "one step left"; the new one confirming last hears it now uses that address', async () => {
    const { user, oldEmail, newEmail, newLink, oldLink } = await pendingUpdate('old-first');
    const first = (await press('/verify-email', tokenOf(oldLink))).text;
    expect(h1(first)).toBe('Confirmed, one step left');
    expect(first).toContain(`the first of two confirmations. It completes once the new address, <strong>${maskEmail(newEmail)}</strong>, is confirmed`);
    expect(first).toContain('Until then, your account keeps its current email address.');
    expect((await api.get('/v1/me', { token: user.token })).body.email).toBe(oldEmail);

    const last = (await press('/verify-email', tokenOf(newLink))).text;
    expect(h1(last)).toBe('Your email address is confirmed');
    expect(last).toContain(`Your Himal Wallet account now uses <strong>${newEmail}</strong>.`);
    expect((await api.get('/v1/me', { token: user.token })).body.email).toBe(newEmail);
  });

  it('the old address confirming last is told the change is complete and to which address, not that it is the account\'s address', async () => {
    const { user, oldEmail, newEmail, newLink, oldLink } = await pendingUpdate('old-last');
    const first = (await press('/verify-email', tokenOf(newLink))).text;
    expect(h1(first)).toBe('Confirmed, one step left');
    expect(first).toContain(`<strong>${newEmail}</strong> is confirmed: the first of two confirmations.`);
    expect(first).toContain(`the link we sent to your current address, <strong>${maskEmail(oldEmail)}</strong>`);

    const last = await press('/verify-email', tokenOf(oldLink));
    const html = last.text;
    expect(last.status).toBe(200);
    expect(h1(html)).toBe('The email change is complete');
    expect(html).toContain(`Your Himal Wallet account now uses <strong>${maskEmail(newEmail)}</strong>; this address no longer receives mail for the account.`);
    expect(html).not.toMatch(/now uses this email|Your email address is confirmed/);
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ email: newEmail, emailVerified: true });

    const notice = await stack.smtp.waitForMessage(oldEmail, { seen: 2 });
    expect(notice.subject).toBe('Your account email was changed');
    expect(notice.text).toContain(`The email address of your Himal Wallet account was changed to ${maskEmail(newEmail)} on `);
    expect(notice.text).toMatch(/ UTC\. This address no longer receives mail/);
  });

  it('"send a new link" too soon: the page says how long to wait and until when, as Retry-After does', async () => {
    const user = await signedInUser(api);
    const email = uniqueEmail('too-soon');
    await startChange(api, user, email);
    const token = tokenOf(linkIn(await stack.smtp.waitForMessage(email)));
    const res = await press('/verify-email/resend', token);
    const html = res.text;
    expect(res.status).toBe(429);
    expect(h1(html)).toBe('Please wait');
    const wait = /You can ask again in <strong>(\d+) seconds?<\/strong>, at <strong>\w{3}, \d{2} \w{3} \d{4}, \d{2}:\d{2} UTC<\/strong>\./.exec(html);
    expect(wait, html).not.toBeNull();
    expect(Number(wait![1])).toBeGreaterThan(0);
    expect(Number(wait![1])).toBeLessThanOrEqual(90);
    expect(res.headers.get('retry-after')).toBe(wait![1]);
    expect(html).toContain('action="/verify-email/resend"'); // the button to use once the wait is over
    expect(stack.smtp.messagesTo(email)).toHaveLength(1);
  });
});

describe('the reader\'s language and time zone', () => {
  it('a stored locale decides the mail and the pages, whatever the browser says; dates in the stored time zone', async () => {
    const user = await userWithLocale('ne-NP', 'Asia/Kathmandu');
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ locale: 'ne-NP', timeZone: 'Asia/Kathmandu' });
    const email = uniqueEmail('nepali');
    await startChange(api, user, email);
    const mail = await stack.smtp.waitForMessage(email);
    expect(mail.subject).toBe('आफ्नो इमेल ठेगाना पुष्टि गर्नुहोस्');
    expect(mail.text).toContain('कसैले यो ठेगाना आफ्नो Himal Wallet खातामा थप्न अनुरोध गर्नुभएको छ।');
    expect(mail.text).toMatch(/GMT\+५:४५ \(Asia\/Kathmandu\) मा यसको म्याद सकिन्छ/);
    expect(mail.text).not.toContain('UTC');
    expect(mail.html).toContain('<html lang="ne">');

    const page = await open(linkIn(mail), { 'accept-language': 'en-US,en;q=0.9' });
    const html = page.text;
    expect(page.headers.get('content-language')).toBe('ne');
    expect(html).toContain('<html lang="ne">');
    expect(h1(html)).toBe('आफ्नो इमेल ठेगाना पुष्टि गर्नुहोस्');
    expect(html).toContain(`<strong>${email}</strong> लाई आफ्नो Himal Wallet खाताको इमेल ठेगानाको रूपमा पुष्टि गर्नुहोस्।`);
    expect(html).toContain('>Himal Wallet मा फर्कनुहोस्</a>');

    const done = (await press('/verify-email', tokenOf(linkIn(mail)), { 'accept-language': 'en' })).text;
    expect(h1(done)).toBe('तपाईंको इमेल ठेगाना पुष्टि भयो');
    expect(done).toContain(`तपाईंको Himal Wallet खाताले अब <strong>${email}</strong> प्रयोग गर्छ।`);
  });

  it('without a stored locale, pages follow Accept-Language and mail is English in UTC; PATCH /v1/me changes the next mail', async () => {
    const user = await signedInUser(api);
    const first = uniqueEmail('browser');
    await startChange(api, user, first);
    const mail = await stack.smtp.waitForMessage(first);
    expect(mail.subject).toBe('Confirm your email address');
    expect(mail.text).toMatch(/expires on \w{3}, \d{2} \w{3} \d{4}, \d{2}:\d{2} UTC\./);

    const nepali = await open(linkIn(mail), { 'accept-language': 'ne-NP,ne;q=0.9,en;q=0.8' });
    expect(nepali.headers.get('content-language')).toBe('ne');
    expect(nepali.headers.get('vary')).toMatch(/Accept-Language/i);
    expect(h1(nepali.text)).toBe('आफ्नो इमेल ठेगाना पुष्टि गर्नुहोस्');
    expect(h1((await open(linkIn(mail), { 'accept-language': 'de-DE, fr;q=0.8' })).text)).toBe('Confirm your email address');
    expect(h1((await open(linkIn(mail))).text)).toBe('Confirm your email address');
    // A page without a valid link knows no account: the browser's language.
    expect(h1((await open(`${stack.baseUrl}/verify-email?token=nonsense`, { 'accept-language': 'ne' })).text)).toBe('यो लिङ्क मान्य छैन');

    const patched = await api.request('PATCH', '/v1/me', { token: user.token, json: { locale: 'ne', timeZone: 'Asia/Kathmandu' } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ id: user.id, locale: 'ne', timeZone: 'Asia/Kathmandu', pendingChange: { newEmail: first } });
    const second = uniqueEmail('browser-then-ne');
    await startChange(api, user, second);
    const next = await stack.smtp.waitForMessage(second);
    expect(next.subject).toBe('आफ्नो इमेल ठेगाना पुष्टि गर्नुहोस्');
    expect(next.text).toContain('(Asia/Kathmandu)');
  });

  it('PATCH /v1/me takes a BCP 47 tag and an IANA zone, null clears one, anything else is 400 and changes nothing', async () => {
    const user = await signedInUser(api);
    const patch = (json: unknown) => api.request('PATCH', '/v1/me', { token: user.token, json });
    for (const bad of [{}, { locale: 'english!' }, { locale: 'e' }, { locale: 5 }, { timeZone: 'Mars/Olympus_Mons' }, { timeZone: '../../etc/passwd' }, { locale: 'ne', colour: 'blue' }]) {
      const res = await patch(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await api.get('/v1/me', { token: user.token })).body).toMatchObject({ locale: null, timeZone: null });
    expect((await patch({ locale: 'NE-np', timeZone: 'europe/berlin' })).body).toMatchObject({ locale: 'ne-NP', timeZone: 'Europe/Berlin' });
    expect((await patch({ locale: null })).body).toMatchObject({ locale: null, timeZone: 'Europe/Berlin' });
    expect((await api.request('PATCH', '/v1/me', { json: { locale: 'ne' } })).status).toBe(401);
    const refused = await api.post('/v1/users', { json: { username: `bad_locale_${Date.now()}`, password: 'correct horse battery staple', locale: 'xx_YY!' } });
    expect(refused.status).toBe(400);
  });
});

describe('the OpenAPI check covers every test file (issue #11)', () => {
  it('the pages here are checked against the document, and an undocumented API path fails the call', async () => {
    const before = contractStats.checked;
    expect((await open(`${stack.baseUrl}/verify-email?token=nonsense`)).status).toBe(400);
    expect((await press('/undo-email-change', 'nonsense')).status).toBe(400);
    expect(contractStats.checked).toBe(before + 2);
    await expect(api.get('/v1/nowhere')).rejects.toThrow(/GET \/v1\/nowhere → 404: the path is not in the OpenAPI document/);
    expect((await api.get('/v1/nowhere', { contract: false })).status).toBe(404);
  });
});
