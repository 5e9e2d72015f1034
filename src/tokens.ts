import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifierOf } from './workflows/link-proof';

/**
 * R-TOKEN link tokens: base64url(version ‖ change id ‖ purpose ‖ expiry ‖ nonce ‖ HMAC-SHA256).
 * The MAC (key TOKEN_SECRET) covers everything before it; the 16-byte nonce is random, so even
 * someone who knows the secret cannot compute a link from what the API or the history shows.
 *
 * Nothing stored works as a credential: the API hands the workflow `proofOf(token)` (SHA-256 of
 * the token) and the workflow and PostgreSQL keep only `verifierOf(proof)` (SHA-256 of that).
 */
export type Purpose = 'new' | 'old';

export interface LinkToken {
  changeId: string;
  purpose: Purpose;
  expiresAt: number;
}

const VERSION = 1;
const PURPOSE_BYTE: Record<Purpose, number> = { new: 1, old: 2 };
const PAYLOAD_LENGTH = 1 + 16 + 1 + 8 + 16;
const MAC_LENGTH = 32;
const TOKEN_LENGTH = Math.ceil(((PAYLOAD_LENGTH + MAC_LENGTH) * 4) / 3);

const mac = (secret: string, payload: Buffer) => createHmac('sha256', secret).update(payload).digest();

/** Builds a token with a fresh random nonce. */
export function createLinkToken(secret: string, token: LinkToken): string {
  const payload = Buffer.alloc(PAYLOAD_LENGTH);
  payload.writeUInt8(VERSION, 0);
  Buffer.from(token.changeId.replace(/-/g, ''), 'hex').copy(payload, 1);
  payload.writeUInt8(PURPOSE_BYTE[token.purpose], 17);
  payload.writeBigUInt64BE(BigInt(token.expiresAt), 18);
  randomBytes(16).copy(payload, 26);
  return Buffer.concat([payload, mac(secret, payload)]).toString('base64url');
}

/** The token's claims if it is well-formed and its MAC is right (expiry is the caller's to judge). */
export function verifyLinkToken(secret: string, text: unknown): LinkToken | undefined {
  if (typeof text !== 'string' || text.length !== TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const raw = Buffer.from(text, 'base64url');
  if (raw.length !== PAYLOAD_LENGTH + MAC_LENGTH) return undefined;
  const payload = raw.subarray(0, PAYLOAD_LENGTH);
  if (!timingSafeEqual(raw.subarray(PAYLOAD_LENGTH), mac(secret, payload))) return undefined;
  if (payload.readUInt8(0) !== VERSION) return undefined;
  const purpose = (Object.keys(PURPOSE_BYTE) as Purpose[]).find((p) => PURPOSE_BYTE[p] === payload.readUInt8(17));
  if (!purpose) return undefined;
  const hex = payload.subarray(1, 17).toString('hex');
  const changeId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { changeId, purpose, expiresAt: Number(payload.readBigUInt64BE(18)) };
}

/** What the API sends the workflow for a clicked link: only someone holding the token can make it. */
export const proofOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** What is stored for a token (workflow state, mail_messages): useless as a proof. */
export const tokenVerifier = (token: string) => verifierOf(proofOf(token));

/**
 * The mail outbox keeps a prepared token sealed (AES-256-GCM, key derived from the secret) only
 * until its mail is sent, so a retried send mails the same link; the sent row keeps the verifier alone.
 */
const sealKey = (secret: string) => Buffer.from(hkdfSync('sha256', secret, 'email-change', 'outbox-token-seal', 32));

export function sealToken(secret: string, token: string, messageKey: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(secret), iv).setAAD(Buffer.from(messageKey));
  const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function unsealToken(secret: string, sealed: Buffer, messageKey: string): string {
  const decipher = createDecipheriv('aes-256-gcm', sealKey(secret), sealed.subarray(0, 12)).setAAD(Buffer.from(messageKey));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
}
