import fs from 'node:fs';
import path from 'node:path';
import i18next, { type i18n } from 'i18next';
import type { Branding } from './config';
import { en } from './locales/en';
import { ne } from './locales/ne';
import { BUILTIN_TEMPLATES, TEMPLATE_NAMES, type TemplateName } from './templates';
import { escapeHtml } from './escape';

/** The languages built in; TEMPLATES_DIR/locales/<lng>.json may add more or reword these. */
export const BUILTIN_CATALOGUES: Record<string, object> = { en, ne };
export const DEFAULT_LANGUAGE = 'en';

export interface LocalizerOptions {
  /**
   * Tests: no fallback to English and every missing message or placeholder value reported to
   * `onMissing` (a message missing in production falls back to English, then to its key).
   */
  strict?: boolean;
  onMissing?: (problem: string) => void;
}

type Vars = Record<string, string | number | undefined>;
type TemplateValue = string | number | boolean | null | undefined;

/**
 * Issue #15: every text a person reads, in their language, with the app's branding. One per
 * process side (API pages, worker mail), built at start: a bad override file fails the start.
 */
export class Localizer {
  readonly languages: string[];
  private readonly i18n: i18n;
  private readonly templates: Record<TemplateName, string>;

  constructor(
    readonly branding: Branding,
    private readonly options: LocalizerOptions = {},
  ) {
    const resources: Record<string, { translation: object }> = {};
    for (const [lng, catalogue] of Object.entries(BUILTIN_CATALOGUES)) resources[lng] = { translation: catalogue };
    for (const [lng, catalogue] of Object.entries(overrideCatalogues(branding.templatesDir))) {
      resources[lng] = { translation: deepMerge(resources[lng]?.translation ?? {}, catalogue) };
    }
    this.languages = Object.keys(resources);
    this.templates = { ...BUILTIN_TEMPLATES, ...overrideTemplates(branding.templatesDir) };
    this.i18n = i18next.createInstance();
    void this.i18n.init({
      resources,
      lng: DEFAULT_LANGUAGE,
      fallbackLng: options.strict ? false : DEFAULT_LANGUAGE,
      supportedLngs: this.languages,
      initAsync: false,
      showSupportNotice: false,
      returnNull: false,
      interpolation: { escapeValue: false }, // plain text; HTML is escaped where it is built
      saveMissing: true,
      missingKeyHandler: (lngs, _ns, key) => options.onMissing?.(`missing message ${[lngs].flat().join(',')}:${key}`),
      missingInterpolationHandler: (text, match) => {
        options.onMissing?.(`no value for {{${String((match as string[])[1]).trim()}}} in "${text}"`);
        return '';
      },
    });
  }

  /** One message in `lng`; `{{app}}` is the app's name. */
  t(lng: string, key: string, vars: Vars & { count?: number; context?: string } = {}): string {
    return this.i18n.t(key, { lng, app: this.branding.appName, ...vars }) as string;
  }

  /**
   * One message as HTML: its text escaped, and the values named in `strong` (addresses, dates)
   * set in bold, escaped too.
   */
  html(lng: string, key: string, vars: Vars & { context?: string } = {}, strong: string[] = []): string {
    const marked: Vars = { ...vars };
    strong.forEach((name, i) => {
      if (vars[name] !== undefined) marked[name] = `\uE000${i}\uE001`;
    });
    return escapeHtml(this.t(lng, key, marked)).replace(/\uE000(\d+)\uE001/g, (_, i: string) => `<strong>${escapeHtml(String(vars[strong[Number(i)]!]))}</strong>`);
  }

  /**
   * The language for a reader: the stored locale when we have it (ne-NP → ne), else the best of
   * the browser's Accept-Language, else English.
   */
  pick(stored?: string | null, acceptLanguage?: string): string {
    const fromStored = stored ? this.supported(stored) : undefined;
    if (fromStored) return fromStored;
    for (const tag of parseAcceptLanguage(acceptLanguage ?? '')) {
      const found = this.supported(tag);
      if (found) return found;
    }
    return DEFAULT_LANGUAGE;
  }

  /** The catalogue language for a BCP 47 tag, exact or by its base language; undefined when none. */
  supported(tag: string): string | undefined {
    const lower = tag.toLowerCase();
    const exact = this.languages.find((l) => l.toLowerCase() === lower);
    if (exact) return exact;
    const base = lower.split(/[-_]/)[0]!;
    return this.languages.find((l) => l.toLowerCase() === base);
  }

  /**
   * A moment as people read it, with its time zone: the reader's (IANA name) when stored, else UTC,
   * written out ("Fri, 14 Mar 2025, 11:00 UTC"; "… 16:45 GMT+5:45 (Asia/Kathmandu)").
   */
  date(lng: string, ms: number, timeZone?: string | null): string {
    const zone = timeZone && isTimeZone(timeZone) ? timeZone : 'UTC';
    const locale = this.t(lng, 'meta.dateLocale');
    const text = dateFormat(locale, zone, false).format(ms);
    if (zone === 'UTC') return `${text} UTC`;
    const offset = dateFormat(locale, zone, true).formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value;
    return `${text} ${offset} (${zone})`;
  }

  /** A wait as people read it: "45 seconds", "2 minutes", "3 hours" (rounded up). */
  wait(lng: string, seconds: number): string {
    const s = Math.max(1, Math.ceil(seconds));
    const [unit, count] = s < 120 ? ['seconds', s] : s < 2 * 3600 ? ['minutes', Math.ceil(s / 60)] : ['hours', Math.ceil(s / 3600)];
    return this.t(lng, `wait.${unit}`, { count, n: new Intl.NumberFormat(this.t(lng, 'meta.dateLocale')).format(count) });
  }

  /** A layout (built-in or TEMPLATES_DIR's) filled in; `.html` templates escape every `{{value}}`. */
  render(name: TemplateName, lng: string, values: Record<string, TemplateValue>): string {
    const b = this.branding;
    const all: Record<string, TemplateValue> = {
      lang: lng,
      appName: b.appName,
      appUrl: b.appUrl,
      supportUrl: b.supportUrl,
      logoUrl: b.logoUrl,
      backToApp: this.t(lng, 'common.backToApp'),
      openApp: this.t(lng, 'common.openApp'),
      support: this.t(lng, 'common.support'),
      sentBy: this.t(lng, 'mail.sentBy'),
      ...values,
    };
    return fill(this.templates[name], all, {
      escape: name.endsWith('.html') ? escapeHtml : (text) => text,
      t: (key) => this.t(lng, key),
      onMissing: this.options.onMissing,
    });
  }
}

/** Fills one template (see src/i18n/templates.ts for the syntax). */
export function fill(
  source: string,
  values: Record<string, TemplateValue>,
  how: { escape: (text: string) => string; t: (key: string) => string; onMissing?: (problem: string) => void },
): string {
  const set = (name: string) => {
    const v = values[name];
    return v !== undefined && v !== null && v !== false && v !== '';
  };
  const sections = source.replace(/\{\{([#^])\s*([\w.-]+)\s*\}\}([\s\S]*?)\{\{\/\s*\2\s*\}\}/g, (_, kind: string, name: string, inner: string) =>
    (kind === '#') === set(name) ? fill(inner, values, how) : '',
  );
  return sections.replace(/\{\{(\{)?\s*(t:)?([\w.-]+)\s*\}?\}\}/g, (_, raw: string | undefined, t: string | undefined, name: string) => {
    if (t) return how.escape(how.t(name));
    if (!(name in values)) how.onMissing?.(`template value {{${name}}} is unknown`);
    const text = values[name] === undefined || values[name] === null || values[name] === false ? '' : String(values[name]);
    return raw ? text : how.escape(text);
  });
}

/** Accept-Language tags, best first (q=0 left out). */
export function parseAcceptLanguage(header: string): string[] {
  return header
    .slice(0, 1000)
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? '1');
      return { tag: tag.trim(), q: Number.isFinite(q) ? q : 0, i };
    })
    .filter((l) => l.q > 0 && /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/.test(l.tag))
    .sort((a, b) => b.q - a.q || a.i - b.i)
    .map((l) => l.tag);
}

// Issue #12: building an Intl.DateTimeFormat costs about 100 µs, using one about 2 µs; a mail has two or three dates.
const formats = new Map<string, Intl.DateTimeFormat>();
const knownZones = new Map<string, boolean>();
const MAX_CACHED = 1_000; // zones and locales are few; the bound only keeps odd input from growing it

function dateFormat(locale: string, timeZone: string, withOffset: boolean): Intl.DateTimeFormat {
  const key = `${locale}\0${timeZone}\0${withOffset}`;
  let format = formats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, {
      weekday: 'short', day: '2-digit', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone,
      ...(withOffset ? { timeZoneName: 'shortOffset' } : {}),
    });
    if (formats.size >= MAX_CACHED) formats.clear();
    formats.set(key, format);
  }
  return format;
}

/** An IANA time zone this runtime knows. */
export function isTimeZone(name: string): boolean {
  let known = knownZones.get(name);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: name });
      known = true;
    } catch {
      known = false;
    }
    if (knownZones.size >= MAX_CACHED) knownZones.clear();
    knownZones.set(name, known);
  }
  return known;
}

function overrideTemplates(dir: string | undefined): Partial<Record<TemplateName, string>> {
  if (!dir) return {};
  const found: Partial<Record<TemplateName, string>> = {};
  for (const name of TEMPLATE_NAMES) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) found[name] = fs.readFileSync(file, 'utf8');
  }
  return found;
}

function overrideCatalogues(dir: string | undefined): Record<string, object> {
  const localesDir = dir && path.join(dir, 'locales');
  if (!localesDir || !fs.existsSync(localesDir)) return {};
  const found: Record<string, object> = {};
  for (const file of fs.readdirSync(localesDir).filter((f) => f.endsWith('.json')).sort()) {
    const lng = file.slice(0, -'.json'.length);
    const where = path.join(localesDir, file);
    if (!/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(lng)) throw new Error(`${where}: name the file after a language, like ne.json or pt-BR.json`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(where, 'utf8'));
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
    }
    const bad = badMessage(parsed);
    if (bad !== undefined) throw new Error(`${where}: expected nested objects of strings${bad ? ` (at ${bad})` : ''}`);
    found[lng] = parsed as object;
  }
  return found;
}

/** The path of the first value that is neither a string nor an object of them; undefined when all are fine. */
function badMessage(value: unknown, at = ''): string | undefined {
  if (typeof value === 'string') return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return at;
  for (const [key, v] of Object.entries(value)) {
    const bad = badMessage(v, at ? `${at}.${key}` : key);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

function deepMerge(base: object, over: object): object {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = typeof value === 'object' && typeof current === 'object' && current !== null ? deepMerge(current, value as object) : value;
  }
  return out;
}
