/**
 * Screenshots of every page a mail's link can lead to, and of every mail, in every built-in
 * language, at a desktop and a phone size, into docs/screenshots/ (issue #15). The pages are the
 * HTML the link routes answer with (renderLinkPage), filled with fixed sample data so the images
 * change only when the pages do. test/pages/screenshots.test.ts runs this, so they stay current.
 *
 *   npx tsx scripts/screenshots.ts [outDir]
 *
 * Needs Debian's chromium (/usr/bin/chromium) and a Devanagari font (fonts-lohit-deva-nepali).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { renderLinkPage, type PageView, type RenderedPage } from '../src/api/routes/link-pages';
import { renderRevertPage, type RevertPageView } from '../src/api/routes/revert-pages';
import { Localizer } from '../src/i18n';
import type { Branding } from '../src/i18n/config';
import { changedNotice, lapsedNotice, revertedMail, verificationMail, type Mail, type Reader } from '../src/mail/templates';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--font-render-hinting=none'];
export const SCREENSHOTS_DIR = path.join(__dirname, '../docs/screenshots');

export const VIEWPORTS = { desktop: { width: 1280, height: 800 }, mobile: { width: 390, height: 844 } } as const;
export type ViewportName = keyof typeof VIEWPORTS;

export const SAMPLE_BRANDING: Branding = { appName: 'Example Wallet', appUrl: 'https://wallet.example/app', supportUrl: 'https://wallet.example/help' };
/** English readers without a stored time zone (UTC), Nepali ones in Kathmandu. */
export const SAMPLE_READERS: Record<string, Reader> = { en: { lng: 'en', timeZone: null }, ne: { lng: 'ne', timeZone: 'Asia/Kathmandu' } };

const NOW = Date.UTC(2026, 2, 14, 9, 30);
const OLD = 'alice@example.com';
const NEW = 'alice.new@example.org';
const TOKEN = 'sample-token';

/** One sample of every page; `satisfies` keeps the list complete when a page kind is added. */
const byKind = {
  confirm: [
    { name: 'confirm-add', view: { kind: 'confirm', purpose: 'new', change: 'ADD', newEmail: NEW, oldEmail: null, linkExpiresAt: NOW + 3_600_000, token: TOKEN } },
    { name: 'confirm-new-address', view: { kind: 'confirm', purpose: 'new', change: 'UPDATE', newEmail: NEW, oldEmail: OLD, linkExpiresAt: NOW + 3_600_000, token: TOKEN } },
    { name: 'confirm-old-address', view: { kind: 'confirm', purpose: 'old', change: 'UPDATE', newEmail: NEW, oldEmail: OLD, linkExpiresAt: NOW + 3_600_000, token: TOKEN } },
  ],
  confirmed: [
    { name: 'confirmed-waiting-for-old', view: { kind: 'confirmed', purpose: 'new', state: 'REQUESTED', newEmail: NEW, oldEmail: 'al***@example.com' } },
    { name: 'confirmed-waiting-for-new', view: { kind: 'confirmed', purpose: 'old', state: 'REQUESTED', newEmail: 'al***@example.org', oldEmail: OLD } },
    { name: 'confirmed-applied-by-new', view: { kind: 'confirmed', purpose: 'new', state: 'APPROVED', newEmail: NEW, oldEmail: 'al***@example.com' } },
    { name: 'confirmed-applied-by-old', view: { kind: 'confirmed', purpose: 'old', state: 'APPROVED', newEmail: 'al***@example.org', oldEmail: OLD } },
  ],
  'already-confirmed': [{ name: 'already-confirmed', view: { kind: 'already-confirmed' } }],
  dead: [
    { name: 'link-expired', view: { kind: 'dead', reason: 'expired', canResend: true, token: TOKEN } },
    { name: 'link-resent', view: { kind: 'dead', reason: 'resent', canResend: true, token: TOKEN } },
    { name: 'request-superseded', view: { kind: 'dead', reason: 'superseded', canResend: false, token: TOKEN } },
    { name: 'request-cancelled', view: { kind: 'dead', reason: 'cancelled', canResend: false, token: TOKEN } },
    { name: 'request-finished', view: { kind: 'dead', reason: 'finished', canResend: false, token: TOKEN } },
  ],
  declined: [
    { name: 'declined-address-taken', view: { kind: 'declined', code: 'EMAIL_TAKEN' } },
    { name: 'declined-account-changed', view: { kind: 'declined', code: 'ACCOUNT_EMAIL_CHANGED' } },
  ],
  invalid: [{ name: 'link-invalid', view: { kind: 'invalid' } }],
  resent: [{ name: 'new-link-sent', view: { kind: 'resent' } }],
  'rate-limited': [
    { name: 'rate-limited-wait', view: { kind: 'rate-limited', retryAfterSeconds: 45, capped: false, now: NOW, token: TOKEN } },
    { name: 'rate-limited-no-resends-left', view: { kind: 'rate-limited', retryAfterSeconds: 3600, capped: true, now: NOW, token: TOKEN } },
  ],
  unavailable: [{ name: 'try-again', view: { kind: 'unavailable' } }],
  error: [{ name: 'error', view: { kind: 'error', status: 500 } }],
} satisfies { [K in PageView['kind']]: { name: string; view: Extract<PageView, { kind: K }> }[] };

/** The undo link's pages (issue #15 item 4), the same way. */
const byRevertKind = {
  'revert-confirm': [{ name: 'undo-confirm', view: { kind: 'revert-confirm', oldEmail: OLD, newEmail: 'al***@example.org', until: NOW + 7 * 86_400_000, token: TOKEN } }],
  reverted: [{ name: 'undo-done', view: { kind: 'reverted', email: OLD, blockedUntil: NOW + 72 * 3_600_000 } }],
  'revert-already': [{ name: 'undo-already-done', view: { kind: 'revert-already' } }],
  'revert-closed': [{ name: 'undo-window-closed', view: { kind: 'revert-closed' } }],
  'revert-refused': [{ name: 'undo-refused', view: { kind: 'revert-refused' } }],
} satisfies { [K in Exclude<RevertPageView['kind'], PageView['kind']>]: { name: string; view: Extract<RevertPageView, { kind: K }> }[] };

export interface SamplePage {
  name: string;
  view: PageView | RevertPageView;
  render: (l: Localizer, reader: Reader) => RenderedPage;
}

export const SAMPLE_PAGES: SamplePage[] = [
  ...Object.values(byKind)
    .flat()
    .map(({ name, view }) => ({ name, view: view as PageView, render: (l: Localizer, r: Reader) => renderLinkPage(l, r, view as PageView) })),
  ...Object.values(byRevertKind)
    .flat()
    .map(({ name, view }) => ({ name, view: view as RevertPageView, render: (l: Localizer, r: Reader) => renderRevertPage(l, r, view as RevertPageView) })),
];

const requestedBy = { method: 'password' as const, ip: '203.0.113.7', device: 'Chrome on Android' };
/** One sample of every mail. */
export const SAMPLE_MAILS: { name: string; render: (l: Localizer, reader: Reader) => Mail }[] = [
  { name: 'mail-verify-add', render: (l, r) => verificationMail(l, r, { purpose: 'new', kind: 'ADD', newEmail: NEW, link: `https://wallet.example/verify-email?token=${TOKEN}`, linkExpiresAt: NOW + 3_600_000, requestedAt: NOW, requestedBy }) },
  { name: 'mail-verify-new-address', render: (l, r) => verificationMail(l, r, { purpose: 'new', kind: 'UPDATE', newEmail: NEW, link: `https://wallet.example/verify-email?token=${TOKEN}`, linkExpiresAt: NOW + 3_600_000, requestedAt: NOW, requestedBy }) },
  { name: 'mail-verify-old-address', render: (l, r) => verificationMail(l, r, { purpose: 'old', kind: 'UPDATE', newEmail: NEW, link: `https://wallet.example/verify-email?token=${TOKEN}`, linkExpiresAt: NOW + 3_600_000, requestedAt: NOW, requestedBy: { method: 'biometric' } }) },
  { name: 'mail-changed-notice', render: (l, r) => changedNotice(l, r, { newEmail: NEW, changedAt: NOW + 600_000 }) },
  { name: 'mail-verify-with-code', render: (l, r) => verificationMail(l, r, { purpose: 'new', kind: 'UPDATE', newEmail: NEW, link: `https://wallet.example/verify-email?token=${TOKEN}`, linkExpiresAt: NOW + 3_600_000, requestedAt: NOW, requestedBy, code: '482913' }) },
  { name: 'mail-reminder', render: (l, r) => verificationMail(l, r, { purpose: 'new', kind: 'UPDATE', newEmail: NEW, link: `https://wallet.example/verify-email?token=${TOKEN}`, linkExpiresAt: NOW + 3_600_000, requestedAt: NOW, requestedBy, reminder: true, requestExpiresAt: NOW + 7_200_000, code: '482913' }) },
  { name: 'mail-changed-notice-with-undo', render: (l, r) => changedNotice(l, r, { newEmail: NEW, changedAt: NOW + 600_000, undo: { link: `https://wallet.example/undo-email-change?token=${TOKEN}`, until: NOW + 7 * 86_400_000 } }) },
  { name: 'mail-undone-old-address', render: (l, r) => revertedMail(l, r, { to: 'old', restoredEmail: OLD, removedEmail: NEW, at: NOW + 86_400_000, blockedUntil: NOW + 4 * 86_400_000 }) },
  { name: 'mail-undone-new-address', render: (l, r) => revertedMail(l, r, { to: 'new', restoredEmail: OLD, removedEmail: NEW, at: NOW + 86_400_000, blockedUntil: NOW + 4 * 86_400_000 }) },
  { name: 'mail-request-lapsed', render: (l, r) => lapsedNotice(l, r, { newEmail: NEW, expiredAt: NOW + 86_400_000 }) },
];

export interface Shot {
  file: string;
  name: string;
  lng: string;
  viewport: ViewportName;
  title: string;
}

/** Writes every screenshot into `outDir` (its old PNGs removed first) and an index page; returns what it wrote. */
export async function takeScreenshots(outDir = SCREENSHOTS_DIR, localizer = new Localizer(SAMPLE_BRANDING)): Promise<Shot[]> {
  fs.mkdirSync(outDir, { recursive: true });
  for (const old of fs.readdirSync(outDir).filter((f) => f.endsWith('.png'))) fs.rmSync(path.join(outDir, old));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
  const shots: Shot[] = [];
  try {
    for (const [viewport, size] of Object.entries(VIEWPORTS) as [ViewportName, (typeof VIEWPORTS)[ViewportName]][]) {
      const context = await browser.newContext({ viewport: size, deviceScaleFactor: 1, javaScriptEnabled: false, offline: true });
      const page = await context.newPage();
      const shoot = async (name: string, lng: string, title: string, html: string) => {
        const file = `${name}.${lng}.${viewport}.png`;
        await page.setContent(html, { waitUntil: 'load' });
        await page.screenshot({ path: path.join(outDir, file), animations: 'disabled' });
        shots.push({ file, name, lng, viewport, title });
      };
      for (const lng of localizer.languages) {
        const reader = SAMPLE_READERS[lng] ?? { lng };
        for (const sample of SAMPLE_PAGES) {
          const rendered = sample.render(localizer, reader);
          await shoot(sample.name, lng, rendered.title, rendered.html);
        }
        // Mail at the phone size only: that is where most of it is read.
        if (viewport === 'mobile') {
          for (const sample of SAMPLE_MAILS) {
            const mail = sample.render(localizer, reader);
            await shoot(sample.name, lng, mail.subject, mail.html);
          }
        }
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  fs.writeFileSync(path.join(outDir, 'README.md'), indexPage(shots));
  return shots;
}

function indexPage(shots: Shot[]): string {
  const names = [...new Set(shots.map((s) => s.name))];
  const lines = [
    '# Screenshots',
    '',
    'Every page a link in a mail leads to, and every mail, in each built-in language (en, ne), at',
    '1280×800 (desktop) and 390×844 (phone; mail at the phone size only). Made by',
    '`npx tsx scripts/screenshots.ts` from the pages the service serves, with sample data and',
    '`APP_NAME=Example Wallet`; `test/pages/screenshots.test.ts` remakes them on every test run.',
    'Do not edit: they are generated.',
    '',
  ];
  for (const name of names) {
    const of = shots.filter((s) => s.name === name);
    lines.push(`## ${name}`, '', of.map((s) => `${s.lng} · ${s.viewport}: “${s.title}”`).join('  \n'), '');
    lines.push(of.map((s) => `<img src="${s.file}" alt="${s.name} (${s.lng}, ${s.viewport})" width="${s.viewport === 'desktop' ? 400 : 160}">`).join(' '), '');
  }
  return `${lines.join('\n')}\n`;
}

if (require.main === module) {
  takeScreenshots(process.argv[2] ? path.resolve(process.argv[2]) : SCREENSHOTS_DIR)
    .then((shots) => console.log(`wrote ${shots.length} screenshots`))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
