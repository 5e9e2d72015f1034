import { createHmac, hkdfSync, randomInt } from 'node:crypto';
import type { TokenKeys } from './tokens';
import { verifierOf } from './workflows/link-proof';

/**
 * Issue #15 item 7: every verification mail also carries a 6-digit code that the signed-in user
 * can type instead of opening the link. A code has only a million values, so a plain hash of it
 * would be inverted offline by anyone who reads a stored one: the proof is an HMAC keyed with a
 * key derived from the link signing key (TOKEN_SECRET / TOKEN_SECRETS), over the change id and
 * the code. The API computes the proof, the workflow and PostgreSQL keep only `verifierOf(proof)`,
 * as for link tokens; neither a history reader (even with PAYLOAD_KEYS) nor a database reader can
 * turn a verifier back into a code without the token key.
 */
export const CODE_DIGITS = 6;
/** Wrong codes a request takes before only its links work (pinned into each run's input). */
export const CODE_MAX_ATTEMPTS = 5;

/** A fresh uniformly random code, zero-padded: `004217`. */
export const newVerificationCode = (): string => String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');

/** What a person types, tolerant of the spaces and dashes a phone inserts: the digits, or undefined. */
export function typedCode(text: string): string | undefined {
  const digits = text.replace(/[\s-]/g, '');
  return new RegExp(`^[0-9]{${CODE_DIGITS}}$`).test(digits) ? digits : undefined;
}

const secretsOf = (keys: TokenKeys): string[] => (typeof keys === 'string' ? [keys] : keys.map((k) => k.secret));
const codeKey = (secret: string) => Buffer.from(hkdfSync('sha256', secret, 'email-change', 'verification-code-mac', 32));
const proofUnder = (secret: string, changeId: string, code: string) => createHmac('sha256', codeKey(secret)).update(`${changeId}:${code}`).digest('hex');

/** The proofs the API sends the workflow for a typed code: one per configured key (a rotation does not strand a code). */
export const codeProofs = (keys: TokenKeys, changeId: string, code: string): string[] => secretsOf(keys).map((secret) => proofUnder(secret, changeId, code));

/** What is stored for a code (workflow state, mail_messages.code_verifier), made with the current (first) key. */
export const codeVerifier = (keys: TokenKeys, changeId: string, code: string): string => verifierOf(codeProofs(keys, changeId, code)[0]!);

/** Every verifier the code could have been stored under (one per key), to keep a change's codes distinct. */
export const codeVerifiersUnderAnyKey = (keys: TokenKeys, changeId: string, code: string): string[] => codeProofs(keys, changeId, code).map(verifierOf);

/**
 * The outbox seals a link's token and its code together until the mail is sent (src/tokens.ts
 * sealToken); a token is base64url, so a space cannot be part of it. Rows sealed before codes
 * existed hold the token alone.
 */
export const sealedWithCode = (token: string, code: string | undefined): string => (code ? `${token} ${code}` : token);
export function unsealedWithCode(text: string): { token: string; code?: string } {
  const [token = '', code] = text.split(' ');
  return code ? { token, code } : { token };
}
