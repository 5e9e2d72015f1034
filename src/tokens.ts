import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * R-TOKEN link tokens: base64url(version ‖ change id ‖ purpose ‖ expiry ‖ nonce ‖ HMAC-SHA256).
 * The MAC (key TOKEN_SECRET) covers everything before it; only a SHA-256 of the whole token is
 * ever stored or sent to the workflow, so no usable token is in the database or in history.
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

/** Builds a token; `nonce` is random unless given (a retried mail activity re-derives the same one). */
export function createLinkToken(secret: string, token: LinkToken, nonce: Buffer = randomBytes(16)): string {
  const payload = Buffer.alloc(PAYLOAD_LENGTH);
  payload.writeUInt8(VERSION, 0);
  Buffer.from(token.changeId.replace(/-/g, ''), 'hex').copy(payload, 1);
  payload.writeUInt8(PURPOSE_BYTE[token.purpose], 17);
  payload.writeBigUInt64BE(BigInt(token.expiresAt), 18);
  nonce.copy(payload, 26, 0, 16);
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

/** What the workflow stores and compares: never the token itself. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** A per-message nonce derived from the secret, so a retried send rebuilds the very same link. */
export const deriveNonce = (secret: string, messageKey: string) =>
  createHmac('sha256', secret).update(`nonce:${messageKey}`).digest().subarray(0, 16);
