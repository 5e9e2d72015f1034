import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderLinkPage } from '../../src/api/routes/link-pages';
import { ConfigError, loadConfig } from '../../src/config';
import { BUILTIN_CATALOGUES, isTimeZone, Localizer, parseAcceptLanguage } from '../../src/i18n';
import { en } from '../../src/i18n/locales/en';
import { ne } from '../../src/i18n/locales/ne';
import { exportTemplates } from '../../src/i18n/templates';
import { SAMPLE_BRANDING, SAMPLE_MAILS, SAMPLE_PAGES, SAMPLE_READERS } from '../../scripts/screenshots';

/**
 * Issue #15 item 2: every page and every mail renders in every built-in language with no message
 * missing (i18next's missingKeyHandler, no fallback), no placeholder left unfilled, and the
 * catalogues have the same keys and placeholders.
 */

const flatten = (value: object, prefix = ''): Record<string, string> =>
  Object.fromEntries(
    Object.entries(value).flatMap(([key, v]) => (typeof v === 'string' ? [[`${prefix}${key}`, v]] : Object.entries(flatten(v as object, `${prefix}${key}.`)))),
  );
const placeholders = (text: string) => [...text.matchAll(/\{\{\s*([\w.]+)\s*\}\}/g)].map((m) => m[1]).sort();
const devanagari = /[\u0900-\u097F]/;

const dirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'templates-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A Localizer that reports every missing message or value instead of falling back to English. */
function strict(branding = SAMPLE_BRANDING) {
  const problems: string[] = [];
  return { l: new Localizer(branding, { strict: true, onMissing: (p) => problems.push(p) }), problems };
}

describe('message catalogues', () => {
  it('English and Nepali have the same keys and, in each message, the same placeholders', () => {
    const [enFlat, neFlat] = [flatten(en), flatten(ne)];
    expect(Object.keys(neFlat).sort()).toEqual(Object.keys(enFlat).sort());
    for (const key of Object.keys(enFlat)) expect(placeholders(neFlat[key]!), key).toEqual(placeholders(enFlat[key]!));
    // Real Nepali, not copied English: every sentence but the locale code is written in Devanagari.
    for (const [key, text] of Object.entries(neFlat)) if (key !== 'meta.dateLocale') expect(text, key).toMatch(devanagari);
    expect(Object.keys(BUILTIN_CATALOGUES).sort()).toEqual(['en', 'ne']);
  });

  it.each(['en', 'ne'])('every page renders in %s with no message missing and nothing left unfilled', (lng) => {
    const { l, problems } = strict();
    const titles = new Set<string>();
    for (const { name, view, render } of SAMPLE_PAGES) {
      const page = render(l, SAMPLE_READERS[lng]!);
      expect(page.html, name).toMatch(/^<!doctype html>/);
      expect(page.html, name).toContain(`<html lang="${lng}">`);
      expect(page.html, name).toContain(`<h1>${page.title}</h1>`);
      expect(page.html.replace(/<style>[\s\S]*?<\/style>/, ''), name).not.toMatch(/\{\{|\}\}|<script|undefined|\[object /);
      expect(page.html, `${name} names the app`).toContain('Example Wallet');
      expect(page.html, `${name} leads back to the app`).toContain('href="https://wallet.example/app"');
      expect(page.html, `${name} offers help`).toContain('href="https://wallet.example/help"');
      if (lng === 'ne') expect(page.title, name).toMatch(devanagari);
      titles.add(`${view.kind}:${page.title}`);
    }
    expect(problems).toEqual([]);
    expect(titles.size).toBeGreaterThanOrEqual(18); // the pages differ, not one text for all
  });

  it.each(['en', 'ne'])('every mail renders in %s, as text and HTML, with no message missing', (lng) => {
    const { l, problems } = strict();
    for (const { name, render } of SAMPLE_MAILS) {
      const mail = render(l, SAMPLE_READERS[lng]!);
      for (const part of [mail.subject, mail.text, mail.html]) expect(part, name).not.toMatch(/\{\{|\}\}|undefined|\[object /);
      expect(mail.text, name).toContain('Example Wallet');
      expect(mail.html, name).toContain(`<html lang="${lng}">`);
      expect(mail.html, name).not.toMatch(/<script|<img/i); // no logo configured: no remote image
      if (lng === 'ne') expect(mail.subject, name).toMatch(devanagari);
    }
    expect(problems).toEqual([]);
  });

  it('the strict check does catch a missing message (a language whose catalogue lacks keys)', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'locales'));
    fs.writeFileSync(path.join(dir, 'locales/fr.json'), JSON.stringify({ page: { invalid: { title: "Ce lien n'est pas valide" } } }));
    const { l, problems } = strict({ ...SAMPLE_BRANDING, templatesDir: dir });
    const page = renderLinkPage(l, { lng: 'fr' }, { kind: 'invalid' });
    expect(page.title).toBe("Ce lien n'est pas valide");
    expect(problems).toContain('missing message fr:page.invalid.body');
    // Outside tests a missing message falls back to English.
    const lenient = new Localizer({ ...SAMPLE_BRANDING, templatesDir: dir });
    expect(renderLinkPage(lenient, { lng: 'fr' }, { kind: 'invalid' }).html).toContain('The link is incomplete or was changed');
  });
});

describe('dates, waits and languages', () => {
  const l = new Localizer(SAMPLE_BRANDING);
  const at = Date.UTC(2026, 2, 14, 9, 30);

  it('writes the time zone: UTC when none is stored, else the account\'s own', () => {
    expect(l.date('en', at)).toBe('Sat, 14 Mar 2026, 09:30 UTC');
    expect(l.date('en', at, 'Asia/Kathmandu')).toBe('Sat, 14 Mar 2026, 15:15 GMT+5:45 (Asia/Kathmandu)');
    expect(l.date('en', at, 'Not/AZone')).toBe('Sat, 14 Mar 2026, 09:30 UTC');
    expect(l.date('ne', at)).toBe('२०२६ मार्च १४, शनि, ०९:३० UTC');
  });

  it('formats cached per language and zone stay right after junk zones fill and clear the caches (issue #12)', () => {
    const zones = Intl.supportedValuesOf('timeZone');
    for (let i = 0; i < 1_500; i++) expect(isTimeZone(`Junk/Zone_${i}`)).toBe(false);
    for (const zone of zones) l.date(zone.length % 2 ? 'en' : 'ne', at, zone);
    expect(isTimeZone('Not/AZone')).toBe(false);
    expect(isTimeZone('Asia/Kathmandu')).toBe(true);
    expect(l.date('en', at, 'Asia/Kathmandu')).toBe('Sat, 14 Mar 2026, 15:15 GMT+5:45 (Asia/Kathmandu)');
    expect(l.date('ne', at, 'Asia/Kathmandu')).toBe('२०२६ मार्च १४, शनि, १५:१५ GMT+५:४५ (Asia/Kathmandu)');
    expect(l.date('en', at, 'Junk/Zone_7')).toBe('Sat, 14 Mar 2026, 09:30 UTC');
    expect(l.date('ne', at)).toBe('२०२६ मार्च १४, शनि, ०९:३० UTC');
  });

  it('says a wait in the largest sensible unit, rounded up, with plural forms', () => {
    expect([l.wait('en', 1), l.wait('en', 45), l.wait('en', 119.2), l.wait('en', 150), l.wait('en', 3 * 3600 + 1)]).toEqual([
      '1 second',
      '45 seconds',
      '2 minutes',
      '3 minutes',
      '4 hours',
    ]);
    expect(l.wait('ne', 45)).toBe('४५ सेकेन्ड');
  });

  it('picks the stored locale first, then Accept-Language by quality, then English', () => {
    expect(parseAcceptLanguage('en;q=0.5, ne-NP, fr;q=0, *;q=0.1')).toEqual(['ne-NP', 'en']);
    expect(l.pick('ne-NP', 'en')).toBe('ne');
    expect(l.pick('fr', 'ne;q=0.9, en;q=0.8')).toBe('ne'); // a stored language without a catalogue: the browser decides
    expect(l.pick(null, 'de, en-GB;q=0.7')).toBe('en');
    expect(l.pick(null, 'de')).toBe('en');
    expect(l.pick(undefined, undefined)).toBe('en');
  });
});

describe('TEMPLATES_DIR overrides the built-in templates without forking the code', () => {
  it('a file there replaces the template of the same name; a catalogue there rewords single messages', () => {
    const dir = tempDir();
    exportTemplates(dir);
    const page = fs.readFileSync(path.join(dir, 'page.html'), 'utf8');
    fs.writeFileSync(path.join(dir, 'page.html'), page.replace('<main>', '<main data-brand="ours"><p class="notice">{{t:common.support}} · {{appName}}</p>'));
    fs.writeFileSync(path.join(dir, 'mail.txt'), 'OURS {{title}}\n\n{{{body}}}\n');
    fs.mkdirSync(path.join(dir, 'locales'));
    fs.writeFileSync(path.join(dir, 'locales/ne.json'), JSON.stringify({ page: { invalid: { title: 'यो लिङ्क काम गर्दैन' } } }));
    const { l, problems } = strict({ ...SAMPLE_BRANDING, templatesDir: dir });

    const enPage = renderLinkPage(l, { lng: 'en' }, { kind: 'invalid' }).html;
    expect(enPage).toContain('<main data-brand="ours"><p class="notice">Help and support · Example Wallet</p>');
    expect(enPage).toContain('<h1>This link is not valid</h1>');
    const nePage = renderLinkPage(l, { lng: 'ne' }, { kind: 'invalid' });
    expect(nePage.title).toBe('यो लिङ्क काम गर्दैन');
    expect(nePage.html).toContain('सहायता र सहयोग · Example Wallet');
    expect(nePage.html).toContain(ne.page.invalid.body); // the rest of the catalogue stays

    const mail = SAMPLE_MAILS[0]!.render(l, { lng: 'en' });
    expect(mail.text.startsWith(`OURS ${en.mail.verify.subjectAdd}\n\n`)).toBe(true);
    expect(mail.html).toContain('This email was sent by Example Wallet.'); // mail.html was not replaced
    expect(problems).toEqual([]);
  });

  it('values in an .html template are escaped; a broken catalogue fails the start, naming the file', () => {
    const { l } = strict({ ...SAMPLE_BRANDING, appName: 'A&B <Wallet>' });
    expect(renderLinkPage(l, { lng: 'en' }, { kind: 'invalid' }).html).toContain('<span>A&amp;B &lt;Wallet&gt;</span>');
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'locales'));
    fs.writeFileSync(path.join(dir, 'locales/ne.json'), '{ "page": ');
    expect(() => new Localizer({ ...SAMPLE_BRANDING, templatesDir: dir })).toThrow(/locales\/ne\.json/);
    fs.writeFileSync(path.join(dir, 'locales/ne.json'), JSON.stringify({ page: { invalid: { title: 42 } } }));
    expect(() => new Localizer({ ...SAMPLE_BRANDING, templatesDir: dir })).toThrow(/ne\.json: expected nested objects of strings \(at page\.invalid\.title\)/);
  });
});

describe('branding configuration', () => {
  it('reads APP_NAME, APP_URL (a web address or a deep link), SUPPORT_URL, APP_LOGO_URL and TEMPLATES_DIR', () => {
    const dir = tempDir();
    expect(loadConfig({}).branding).toEqual({ appName: 'Example Wallet' });
    expect(
      loadConfig({ APP_NAME: 'Himal Wallet', APP_URL: 'himalwallet://settings/email', SUPPORT_URL: 'mailto:help@himal.example', APP_LOGO_URL: 'https://himal.example/logo.png', TEMPLATES_DIR: dir }).branding,
    ).toEqual({ appName: 'Himal Wallet', appUrl: 'himalwallet://settings/email', supportUrl: 'mailto:help@himal.example', logoUrl: 'https://himal.example/logo.png', templatesDir: dir });
  });

  it.each([
    ['APP_URL', 'javascript:alert(1)'],
    ['APP_URL', 'not a url'],
    ['SUPPORT_URL', 'ftp://help.example'],
    ['APP_LOGO_URL', 'data:image/png;base64,AAAA'],
    ['TEMPLATES_DIR', '/no/such/directory'],
    ['APP_NAME', 'Wallet\u0007'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name}:`));
  });
});
