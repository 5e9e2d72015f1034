import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifierOf } from './workflows/link-proof';

/**
 * R-TOKEN link tokens: base64url(version ‖ change id ‖ purpose ‖ expiry ‖ nonce ‖ key id ‖ HMAC-SHA256).
 * The MAC (key: the secret named by the key id) covers everything before it; the 16-byte nonce is
 * random, so even someone who knows the secret cannot compute a link from what the API or the history shows.
 *
 * Nothing stored works as a credential: the API hands the workflow `proofOf(token)` (SHA-256 of
 * the token) and the workflow and PostgreSQL keep only `verifierOf(proof)` (SHA-256 of that).
 */
export type Purpose = 'new' | 'old';
/** Issue #15: the old address's undo link of an approved change is a token of its own purpose. */
export type TokenPurpose = Purpose | 'revert';

export interface LinkToken {
  changeId: string;
  purpose: Purpose;
  expiresAt: number;
}
export interface RevertToken {
  changeId: string;
  purpose: 'revert';
  expiresAt: number;
}

/**
 * A signing key of links (issue #10): TOKEN_SECRETS `id:secret[,id:secret…]`, the first signs and
 * every one listed verifies, so a new key goes first and an old one stays until its links have expired.
 */
export interface TokenKey {
  id: string;
  secret: string;
}

/** The keys, newest first; a bare secret (TOKEN_SECRET) is the single key `default`. */
export type TokenKeys = string | readonly TokenKey[];

/** The key id TOKEN_SECRET signs under, and the one that verifies version-1 tokens (made before key ids existed). */
export const DEFAULT_KEY_ID = 'default';
const KEY_ID = /^[A-Za-z0-9_.-]{1,8}$/;
export const MIN_TOKEN_SECRET_LENGTH = 32;

/** The keys of TOKEN_SECRETS, or a message saying what is wrong (never echoing a secret). */
export function parseTokenKeys(text: string): TokenKey[] | string {
  const keys: TokenKey[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    if (!KEY_ID.test(id)) return 'expected id:secret[,id:secret…] with ids of 1 to 8 letters, digits, dot, dash or underscore';
    const secret = entry.slice(colon + 1);
    if (secret.length < MIN_TOKEN_SECRET_LENGTH) return `the secret of key "${id}" must be at least ${MIN_TOKEN_SECRET_LENGTH} characters`;
    if (keys.some((k) => k.id === id)) return `key id "${id}" appears twice`;
    keys.push({ id, secret });
  }
  return keys.length > 0 ? keys : 'expected at least one id:secret';
}

const keyList = (keys: TokenKeys): readonly TokenKey[] => (typeof keys === 'string' ? [{ id: DEFAULT_KEY_ID, secret: keys }] : keys);

const VERSION = 2;
/** Tokens mailed before key ids existed: no key id field, verified by the `default` key. */
const VERSION_1 = 1;
const PURPOSE_BYTE: Record<TokenPurpose, number> = { new: 1, old: 2, revert: 3 };
const CLAIMS_LENGTH = 1 + 16 + 1 + 8 + 16;
const KEY_ID_LENGTH = 8;
const MAC_LENGTH = 32;
/** Each version has one fixed length: the payload the MAC covers, then the MAC. */
const PAYLOAD_LENGTH: Record<number, number> = { [VERSION]: CLAIMS_LENGTH + KEY_ID_LENGTH, [VERSION_1]: CLAIMS_LENGTH };
const TOKEN_LENGTH: Record<number, number> = Object.fromEntries(
  Object.entries(PAYLOAD_LENGTH).map(([v, n]) => [v, Math.ceil(((n + MAC_LENGTH) * 4) / 3)]),
);

const mac = (secret: string, payload: Buffer) => createHmac('sha256', secret).update(payload).digest();

/** Builds a token with a fresh random nonce, signed by the first (current) key. */
export function createLinkToken(keys: TokenKeys, token: LinkToken | RevertToken): string {
  const key = keyList(keys)[0]!;
  const payload = Buffer.alloc(PAYLOAD_LENGTH[VERSION]!);
  payload.writeUInt8(VERSION, 0);
  Buffer.from(token.changeId.replace(/-/g, ''), 'hex').copy(payload, 1);
  payload.writeUInt8(PURPOSE_BYTE[token.purpose], 17);
  payload.writeBigUInt64BE(BigInt(token.expiresAt), 18);
  randomBytes(16).copy(payload, 26);
  payload.write(key.id, CLAIMS_LENGTH, 'ascii'); // zero-padded to KEY_ID_LENGTH
  return Buffer.concat([payload, mac(key.secret, payload)]).toString('base64url');
}

/** The id of the key a token says it is signed with (checked by nothing: verifyLinkToken decides). */
export function linkTokenKeyId(text: string): string | undefined {
  if (text.length === TOKEN_LENGTH[VERSION_1]) return DEFAULT_KEY_ID;
  if (text.length !== TOKEN_LENGTH[VERSION]) return undefined;
  return keyIdOf(Buffer.from(text, 'base64url').subarray(CLAIMS_LENGTH, CLAIMS_LENGTH + KEY_ID_LENGTH));
}

/**
 * The token's claims if it is well-formed, names a configured key and its MAC under that key is
 * right (expiry is the caller's to judge). A link whose key was removed is as invalid as a forged one.
 */
export function verifyLinkToken(keys: TokenKeys, text: unknown): LinkToken | undefined {
  const claims = verifyAnyToken(keys, text);
  return claims && claims.purpose !== 'revert' ? (claims as LinkToken) : undefined;
}

/** An undo link's claims (issue #15), verified like a link token; a verification link is not one. */
export function verifyRevertToken(keys: TokenKeys, text: unknown): RevertToken | undefined {
  const claims = verifyAnyToken(keys, text);
  return claims?.purpose === 'revert' ? (claims as RevertToken) : undefined;
}

function verifyAnyToken(keys: TokenKeys, text: unknown): { changeId: string; purpose: TokenPurpose; expiresAt: number } | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const version = text.length === TOKEN_LENGTH[VERSION] ? VERSION : text.length === TOKEN_LENGTH[VERSION_1] ? VERSION_1 : undefined;
  if (version === undefined) return undefined;
  const raw = Buffer.from(text, 'base64url');
  const payloadLength = PAYLOAD_LENGTH[version]!;
  if (raw.length !== payloadLength + MAC_LENGTH || raw.readUInt8(0) !== version) return undefined;
  const payload = raw.subarray(0, payloadLength);
  const keyId = version === VERSION_1 ? DEFAULT_KEY_ID : keyIdOf(payload.subarray(CLAIMS_LENGTH));
  const key = keyId === undefined ? undefined : keyList(keys).find((k) => k.id === keyId);
  if (!key || !timingSafeEqual(raw.subarray(payloadLength), mac(key.secret, payload))) return undefined;
  const purpose = (Object.keys(PURPOSE_BYTE) as TokenPurpose[]).find((p) => PURPOSE_BYTE[p] === payload.readUInt8(17));
  if (!purpose) return undefined;
  const hex = payload.subarray(1, 17).toString('hex');
  const changeId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { changeId, purpose, expiresAt: Number(payload.readBigUInt64BE(18)) };
}

/** The key id of a fixed-length, zero-padded field, or undefined when it is not one a key could have. */
function keyIdOf(field: Buffer): string | undefined {
  const id = field.toString('latin1').replace(/\0+$/, '');
  return KEY_ID.test(id) ? id : undefined;
}

/** What the API sends the workflow for a clicked link: only someone holding the token can make it. */
export const proofOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** What is stored for a token (workflow state, mail_messages): useless as a proof. */
export const tokenVerifier = (token: string) => verifierOf(proofOf(token));

/**
 * The mail outbox keeps a prepared token sealed (AES-256-GCM, key derived from the current signing
 * key) only until its mail is sent, so a retried send mails the same link; the sent row keeps the
 * verifier alone. Unsealing tries every configured key, so a rotation does not strand a mail in flight.
 */
const sealKey = (secret: string) => Buffer.from(hkdfSync('sha256', secret, 'email-change', 'outbox-token-seal', 32));

export function sealToken(keys: TokenKeys, token: string, messageKey: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(keyList(keys)[0]!.secret), iv).setAAD(Buffer.from(messageKey));
  const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function unsealToken(keys: TokenKeys, sealed: Buffer, messageKey: string): string {
  for (const { secret } of keyList(keys)) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', sealKey(secret), sealed.subarray(0, 12)).setAAD(Buffer.from(messageKey));
      decipher.setAuthTag(sealed.subarray(12, 28));
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      // Sealed under another key (GCM's tag says so): try the next one.
    }
  }
  throw new Error(`the link of ${messageKey} was sealed under a token key that is no longer configured`);
}
