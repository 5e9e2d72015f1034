import { domainToASCII, domainToUnicode } from 'node:url';
import { z } from 'zod';

export const MAX_EMAIL_LENGTH = 254;
/** RFC 5321 §4.5.3.1.1 (and RFC 6531 for UTF-8): a local part is at most 64 octets. */
const MAX_LOCAL_OCTETS = 64;

/**
 * Issue #15 item 3: international addresses.
 * - The domain may be an IDN (`bücher.example`, or its A-label `xn--bcher-kva.example`): it is mapped
 *   by UTS #46 (WHATWG `domainToASCII`: lower case, width and compatibility forms folded) to its
 *   A-label form, which must then be an RFC 5321 host name. Uniqueness and sending use the A-label.
 * - The local part may hold Unicode letters, marks and digits (RFC 6531) besides the ASCII dot-atom
 *   characters; such an address needs a relay that offers SMTPUTF8 (see src/mail/smtputf8.ts).
 * - Input is NFC-normalised first. A local part or domain label mixing scripts (UTS #39 "highly
 *   restrictive": one script, or Latin with the Han/Kana, Han/Bopomofo or Han/Hangul combinations)
 *   is refused: `pаypal` with a Cyrillic `а` is not an address we send mail to.
 */
const ASCII_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-";
const LOCAL_PART = new RegExp(`^[${ASCII_ATEXT}\\p{L}\\p{M}\\p{N}]+(\\.[${ASCII_ATEXT}\\p{L}\\p{M}\\p{N}]+)*$`, 'u');
// A combining mark cannot start a local part or one of its dot-separated atoms.
const MARK_AFTER_BOUNDARY = /(^|\.)\p{M}/u;
const ASCII_HOST = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+xn--[a-z0-9-]{1,59}$/;
const NON_ASCII = /[\u0080-\u{10FFFF}]/u;

export interface EmailAddress {
  /**
   * How the address is stored and shown: as typed (trimmed, NFC), except that an internationalised
   * domain is shown in its mapped Unicode form (`jörg@bücher.example`, also when typed as an A-label).
   */
  address: string;
  /** Lower-cased local part and the A-label domain: the form used for uniqueness and lookups. */
  normalized: string;
  /** The local part is not ASCII: only a relay that offers SMTPUTF8 (RFC 6531) can take it. */
  needsSmtpUtf8: boolean;
}

/** Parses a user-typed address; undefined when it is not one we accept. */
export function parseEmailAddress(input: string): EmailAddress | undefined {
  if (typeof input !== 'string') return undefined;
  const address = input.trim().normalize('NFC');
  if (address.length === 0 || address.length > MAX_EMAIL_LENGTH) return undefined;
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = address.slice(0, at);
  const typedDomain = address.slice(at + 1);
  if (!LOCAL_PART.test(local) || MARK_AFTER_BOUNDARY.test(local) || Buffer.byteLength(local, 'utf8') > MAX_LOCAL_OCTETS) return undefined;
  if (local.split('.').some(mixesScripts)) return undefined;

  const asciiDomain = asciiDomainOf(typedDomain);
  if (!asciiDomain) return undefined;
  const unicodeDomain = domainToUnicode(asciiDomain);
  if (unicodeDomain.split('.').some(mixesScripts)) return undefined;

  const needsSmtpUtf8 = NON_ASCII.test(local);
  // An IDN (or a domain typed in other widths or forms) is shown as its Unicode form; ASCII as typed.
  const international = NON_ASCII.test(typedDomain) || asciiDomain.split('.').some((label) => label.startsWith('xn--'));
  const shown = `${local}@${international ? unicodeDomain : typedDomain}`;
  const normalized = `${local.toLowerCase().normalize('NFC')}@${asciiDomain}`;
  if (normalized.length > MAX_EMAIL_LENGTH || shown.length > MAX_EMAIL_LENGTH) return undefined;
  return { address: shown, normalized, needsSmtpUtf8 };
}

/** The A-label (punycode) form of a domain, or undefined when it is not a host name we send to. */
function asciiDomainOf(domain: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
  if (domain.length === 0 || domain.length > 253 || /[\s\x00-\x1f\x7f[\]@]/.test(domain)) return undefined;
  const ascii = domainToASCII(domain);
  if (!ascii || ascii.length > 253 || !ASCII_HOST.test(ascii)) return undefined;
  // Every A-label must decode (domainToASCII checks this too) and a label must not be an A-label of nothing.
  if (ascii.split('.').some((label) => label.startsWith('xn--') && domainToUnicode(label) === label)) return undefined;
  return ascii;
}

/**
 * The address as it goes to the SMTP relay: the domain as its A-label (punycode), the local part as
 * stored. nodemailer keeps a UTF-8 local part, and then (RFC 6531) sends the domain in UTF-8 too.
 */
export function smtpAddressOf(address: string): { to: string; needsSmtpUtf8: boolean } {
  const parsed = parseEmailAddress(address);
  if (!parsed) return { to: address, needsSmtpUtf8: NON_ASCII.test(address.split('@')[0] ?? '') };
  const local = parsed.address.slice(0, parsed.address.lastIndexOf('@'));
  return { to: `${local}@${parsed.normalized.slice(parsed.normalized.lastIndexOf('@') + 1)}`, needsSmtpUtf8: parsed.needsSmtpUtf8 };
}

// ── mixed scripts ────────────────────────────────────────────────────────────
const SCRIPTS = [
  'Latin', 'Greek', 'Cyrillic', 'Armenian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana', 'Nko', 'Devanagari', 'Bengali', 'Gurmukhi',
  'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada', 'Malayalam', 'Sinhala', 'Thai', 'Lao', 'Tibetan', 'Myanmar', 'Georgian',
  'Hangul', 'Ethiopic', 'Cherokee', 'Canadian_Aboriginal', 'Khmer', 'Mongolian', 'Hiragana', 'Katakana', 'Bopomofo', 'Han',
] as const;
const SCRIPT_TESTS = SCRIPTS.map((name) => ({ name, re: new RegExp(`\\p{Script=${name}}`, 'u') }));
const NEUTRAL = /[\p{Script=Common}\p{Script=Inherited}]/u;
/** UTS #39 "highly restrictive": the combinations of scripts a single word may use. */
const ALLOWED_MIXES: readonly (readonly string[])[] = [
  ['Latin', 'Han', 'Hiragana', 'Katakana'],
  ['Latin', 'Han', 'Bopomofo'],
  ['Latin', 'Han', 'Hangul'],
];

/** True when one word (a local part atom or a domain label) mixes scripts beyond the allowed combinations. */
function mixesScripts(word: string): boolean {
  if (!NON_ASCII.test(word)) return false; // ASCII is Latin and Common only
  const scripts = new Set<string>();
  for (const char of word) {
    if (NEUTRAL.test(char)) continue;
    // A script outside the list counts as one of its own (mixing it with a listed one is refused).
    scripts.add(SCRIPT_TESTS.find((s) => s.re.test(char))?.name ?? 'other');
  }
  if (scripts.size <= 1) return false;
  return !ALLOWED_MIXES.some((mix) => [...scripts].every((s) => mix.includes(s)));
}

/** zod field for an email in a request body or query. */
export const emailField = z
  .string({ error: 'must be a string' })
  .max(1024, 'is too long')
  .transform((value, ctx) => {
    const parsed = parseEmailAddress(value);
    if (!parsed) {
      ctx.addIssue({ code: 'custom', message: 'is not a valid email address' });
      return z.NEVER;
    }
    return parsed;
  });
