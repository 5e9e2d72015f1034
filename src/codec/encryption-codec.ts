import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { PayloadKey } from './payload-keys';

export const ENCODING = 'binary/encrypted';
export const KEY_ID = 'encryption-key-id';
const COMPRESSED = 'compression';
/** Below this a payload never shrinks enough to pay for inflating it (measured: see the README's codec figures). */
export const COMPRESS_FROM_BYTES = 256;

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * Encrypts every payload the client and worker write (AES-256-GCM, a fresh 96-bit IV each), the
 * whole Payload protobuf inside, so encoding and metadata are hidden too; the key id rides in the
 * metadata so a rotated set still decrypts. Payloads that are not ours pass through unchanged.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: PayloadKey;

  /** `compressFromBytes`: Infinity turns compression off (bench/codec-cost.ts compares). */
  constructor(
    keys: PayloadKey[],
    private readonly compressFromBytes = COMPRESS_FROM_BYTES,
  ) {
    if (keys.length === 0) throw new Error('EncryptionCodec needs at least one key');
    this.current = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const compressed = plain.length >= this.compressFromBytes ? deflateRawSync(plain) : undefined;
      const body = compressed && compressed.length < plain.length ? compressed : plain;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      const sealed = Buffer.concat([cipher.update(body), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: utf8(ENCODING),
          [KEY_ID]: utf8(this.current.id),
          ...(body === compressed ? { [COMPRESSED]: utf8('deflate') } : {}),
        },
        data: Buffer.concat([iv, cipher.getAuthTag(), sealed]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCODING) return payload;
      const id = text(payload.metadata?.[KEY_ID]) ?? '';
      const key = this.byId.get(id);
      if (!key) throw new Error(`payload encrypted with key "${id}", which is not in PAYLOAD_KEYS`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(12, 28));
      const body = Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]);
      const plain = text(payload.metadata?.[COMPRESSED]) === 'deflate' ? inflateRawSync(body) : body;
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** The key id an encoded payload names, or undefined for a payload that is not encrypted. */
export const keyIdOf = (payload: Payload): string | undefined =>
  text(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCODING ? text(payload.metadata?.[KEY_ID]) : undefined;
