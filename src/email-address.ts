import { z } from 'zod';

export const MAX_EMAIL_LENGTH = 254;

// Deliberately conservative ASCII address grammar (RFC 5321 dot-atom); internationalised
// addresses are refused rather than half-supported.
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

export interface EmailAddress {
  /** As the user typed it, trimmed. */
  address: string;
  /** Lower-cased: the form used for uniqueness and lookups. */
  normalized: string;
}

/** Parses a user-typed address; undefined when it is not one we accept. */
export function parseEmailAddress(input: string): EmailAddress | undefined {
  const address = input.trim();
  if (address.length === 0 || address.length > MAX_EMAIL_LENGTH) return undefined;
  if (!ADDRESS.test(address)) return undefined;
  if (address.split('@')[0]!.length > 64) return undefined;
  return { address, normalized: address.toLowerCase() };
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
