import { z } from 'zod';
import { isTimeZone } from './index';

/** Issue #15: the request fields that set an account's language and time zone (src/api/schemas.ts). */

export const localeField = z
  .string({ error: 'must be a string' })
  .max(35, 'must be at most 35 characters')
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, 'must be a language tag like en, ne or ne-NP')
  .refine((tag) => {
    try {
      return Intl.getCanonicalLocales(tag).length === 1;
    } catch {
      return false;
    }
  }, 'must be a language tag like en, ne or ne-NP')
  .transform((tag) => Intl.getCanonicalLocales(tag)[0]!)
  .meta({ description: 'BCP 47 language tag of pages and mail (en, ne, ne-NP); a language without a catalogue falls back to English' });

export const timeZoneField = z
  .string({ error: 'must be a string' })
  .max(64, 'must be at most 64 characters')
  .refine((zone) => /^[A-Za-z0-9_+\-/]+$/.test(zone) && isTimeZone(zone), 'must be an IANA time zone like Asia/Kathmandu or UTC')
  // Stored as written, in the runtime's own case when it lists the zone (europe/berlin → Europe/Berlin); not
  // canonicalised further: ICU's canonical names are the old ones (Asia/Kathmandu → Asia/Katmandu).
  .transform((zone) => Intl.supportedValuesOf('timeZone').find((known) => known.toLowerCase() === zone.toLowerCase()) ?? zone)
  .meta({ description: 'IANA time zone the dates in pages and mail are shown in; unset: UTC' });
