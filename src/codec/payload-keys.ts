/**
 * Keys of the payload codec (issue #10), from PAYLOAD_KEYS: `id:base64key[,id:base64key…]`, each
 * key 32 random bytes (AES-256). The first encrypts; every one listed decrypts, so a new key goes
 * first and an old one stays listed until no open run (and no history you still need to read) uses it.
 */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

const ID = /^[A-Za-z0-9_.-]{1,32}$/;

/** The keys, or a message saying what is wrong (never echoing key material). */
export function parsePayloadKeys(text: string): PayloadKey[] | string {
  const keys: PayloadKey[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    if (!ID.test(id)) return 'expected id:base64key[,id:base64key…] with ids of letters, digits, dot, dash or underscore';
    const key = Buffer.from(entry.slice(colon + 1), 'base64');
    if (key.length !== 32) return `key "${id}" must be 32 bytes, base64-encoded (make one with \`openssl rand -base64 32\`)`;
    if (keys.some((k) => k.id === id)) return `key id "${id}" appears twice`;
    keys.push({ id, key });
  }
  return keys.length > 0 ? keys : 'expected at least one id:base64key';
}

/** The embedded development default: a published key, so `npm start` works out of the box; production refuses it. */
export const DEV_PAYLOAD_KEYS = 'dev:ZGV2LW9ubHktcGF5bG9hZC1rZXktbm90LXNlY3JldCE=';
