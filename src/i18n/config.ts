import fs from 'node:fs';
import { z } from 'zod';

/**
 * Issue #15: what names the app on every page and mail, where "back to the app" and "help" lead,
 * and where an operator's own templates live. Part of the one zod env schema (src/config.ts).
 */

const noControl = /^[^\p{Cc}]+$/u;
// Schemes that run code or read files are no place to send a person from a mail.
const UNSAFE_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:']);

/** An absolute URL with one of `protocols`, or (`anyScheme`) a deep link like `wallet://profile`. */
const link = (what: string, protocols: string[] | 'anyScheme') =>
  z
    .string()
    .max(2048, 'must be at most 2048 characters')
    .refine((text) => {
      if (!URL.canParse(text) || !noControl.test(text)) return false;
      const { protocol } = new URL(text);
      return protocols === 'anyScheme' ? !UNSAFE_SCHEMES.has(protocol) : protocols.includes(protocol);
    }, `expected ${what}`);

export const brandingEnv = {
  // The app's name as people know it: in every page's header and title and in every mail.
  APP_NAME: z.string().trim().min(1).max(80, 'must be at most 80 characters').regex(noControl, 'may not contain control characters').default('Example Wallet'),
  // "Back to the app": a web address or the app's deep link (wallet://settings/email); unset: the pages say "open the app" without a link.
  APP_URL: link('an absolute URL such as https://app.example.com or a deep link such as wallet://profile', 'anyScheme').optional(),
  // Help: a web page or a mailto: address, shown on every page and mail.
  SUPPORT_URL: link('an http(s) URL or a mailto: address', ['http:', 'https:', 'mailto:']).optional(),
  // A logo shown above the app's name (pages and mail HTML). Mail clients fetch it from there: leave unset to keep mail free of remote images.
  APP_LOGO_URL: link('an http(s) URL', ['http:', 'https:']).optional(),
  // A directory whose files replace the built-in templates of the same name (page.html, mail.html, mail.txt, locales/<lng>.json).
  TEMPLATES_DIR: z
    .string()
    .min(1)
    .refine((dir) => fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true, 'expected an existing directory')
    .optional(),
};

export interface Branding {
  appName: string;
  appUrl?: string;
  supportUrl?: string;
  logoUrl?: string;
  templatesDir?: string;
}

type BrandingEnv = z.output<z.ZodObject<typeof brandingEnv>>;

export const brandingFromEnv = (e: BrandingEnv): Branding => ({
  appName: e.APP_NAME,
  appUrl: e.APP_URL,
  supportUrl: e.SUPPORT_URL,
  logoUrl: e.APP_LOGO_URL,
  templatesDir: e.TEMPLATES_DIR,
});
