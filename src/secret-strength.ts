import { constants, deflateRawSync } from 'node:zlib';

/**
 * Why a secret must not be used in production, or undefined when it looks random enough.
 * Refuses published values (placeholders, our development default) and low-entropy text
 * (32 × "x", "abcabc…", a repeated word): with a known secret every link could be forged.
 */
const PUBLISHED = /change[-_ ]?me|changeit|replace[-_ ]?me|placeholder|example|secret|passw(or)?d|dev-only|do-not-use|default/i;

/**
 * Measured on the text itself, which underestimates short random strings (32 random base64
 * characters measure ~140 bits, 32 hex ~110, rarely below 90): 88 refuses the patterns above and no random secret.
 */
export const MIN_SECRET_BITS = 88;

export function weakSecretReason(secret: string, knownValues: readonly string[] = []): string | undefined {
  if (knownValues.includes(secret)) return 'is a published value (the development default); generate one with `openssl rand -base64 32`';
  if (PUBLISHED.test(secret)) return 'looks like a placeholder; generate one with `openssl rand -base64 32`';
  if (entropyBits(secret) < MIN_SECRET_BITS) return `has too little entropy (need ${MIN_SECRET_BITS} bits); generate one with \`openssl rand -base64 32\``;
  // Repetition that per-character counting misses ("0123456789abcdef" × 4): LZ77 finds it, Huffman coding alone does not.
  const withRepeats = deflateRawSync(secret).length;
  const symbolsOnly = deflateRawSync(secret, { strategy: constants.Z_HUFFMAN_ONLY }).length;
  if (withRepeats < symbolsOnly * 0.8) return 'is repetitive; generate one with `openssl rand -base64 32`';
  return undefined;
}

/** Shannon entropy of the text's own character distribution, times its length: an upper bound on what it holds. */
function entropyBits(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) perChar -= (n / text.length) * Math.log2(n / text.length);
  return perChar * text.length;
}
