import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec, keyIdOf } from '../../src/codec/encryption-codec';
import { parsePayloadKeys, type PayloadKey } from '../../src/codec/payload-keys';

/** The payload codec on its own (issue #10): AES-256-GCM, key ids for rotation, deflate only when it pays. */

const key = (id: string): PayloadKey => ({ id, key: randomBytes(32) });
const A = key('a');
const B = key('b');
const meta = (p: Payload, name: string) => (p.metadata?.[name] ? Buffer.from(p.metadata[name]!).toString('utf8') : undefined);
const json = (value: unknown) => defaultPayloadConverter.toPayload(value)!;
/** A payload as plain values, so one decoded into a protobuf message compares with the original. */
const same = (payloads: Payload[]) =>
  payloads.map((p) => ({ metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(p.data ?? []).toString('base64') }));
const input = json({ newEmail: 'someone@example.com', requestedBy: { method: 'password', ip: '203.0.113.7' } });

describe('EncryptionCodec', () => {
  it('round-trips a payload: metadata and data come back exactly', async () => {
    const codec = new EncryptionCodec([A]);
    const [encoded] = await codec.encode([input]);
    expect(same(await codec.decode([encoded!]))).toEqual(same([input]));
    expect(defaultPayloadConverter.fromPayload((await codec.decode([encoded!]))[0]!)).toMatchObject({ newEmail: 'someone@example.com' });
  });

  it('hides the data and its encoding; names only the key id; a fresh IV each time', async () => {
    const codec = new EncryptionCodec([A]);
    const [one, two] = await codec.encode([input, input]);
    expect(Object.keys(one!.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    expect(meta(one!, 'encoding')).toBe('binary/encrypted');
    expect(keyIdOf(one!)).toBe('a');
    expect(Buffer.from(one!.data!).toString('latin1')).not.toMatch(/someone|example|203\.0\.113|json/);
    expect(Buffer.from(one!.data!).equals(Buffer.from(two!.data!))).toBe(false);
  });

  it('refuses tampered data, a tampered key id and a tag cut short', async () => {
    const codec = new EncryptionCodec([A, B]);
    const [encoded] = await codec.encode([input]);
    const flipped = Buffer.from(encoded!.data!);
    flipped[flipped.length - 1]! ^= 1;
    await expect(codec.decode([{ ...encoded, data: flipped }])).rejects.toThrow(/unable to authenticate/i);
    await expect(codec.decode([{ ...encoded, metadata: { ...encoded!.metadata, 'encryption-key-id': Buffer.from('b') } }])).rejects.toThrow(/unable to authenticate/i);
    await expect(codec.decode([{ ...encoded, data: encoded!.data!.subarray(0, 20) }])).rejects.toThrow();
  });

  it('refuses a payload whose key id is not configured, naming the id and nothing of the key', async () => {
    const [encoded] = await new EncryptionCodec([A]).encode([input]);
    const error = await new EncryptionCodec([B]).decode([encoded!]).then(() => undefined, (err: Error) => err);
    expect(error?.message).toBe('payload encrypted with key "a", which is not in PAYLOAD_KEYS');
    expect(error?.message).not.toContain(A.key.toString('base64'));
  });

  it('passes payloads it did not encrypt through unchanged (search attributes, older plain histories)', async () => {
    const codec = new EncryptionCodec([A]);
    const plain = json('EMAIL_CHANGE_STATE');
    expect(await codec.decode([plain])).toEqual([plain]);
    expect(keyIdOf(plain)).toBeUndefined();
  });

  it('rotation: the first key encrypts, every listed key decrypts', async () => {
    const [underA] = await new EncryptionCodec([A]).encode([input]);
    const rotated = new EncryptionCodec([B, A]);
    expect(same(await rotated.decode([underA!]))).toEqual(same([input]));
    const [underB] = await rotated.encode([input]);
    expect(keyIdOf(underB!)).toBe('b');
  });

  it('compresses only when it shrinks the payload (and never small ones)', async () => {
    const codec = new EncryptionCodec([A]);
    const repetitive = json({ text: 'confirm your email address '.repeat(40) });
    const random = defaultPayloadConverter.toPayload(new Uint8Array(randomBytes(600)))!; // binary/plain
    const [small, big, noise] = await codec.encode([input, repetitive, random]);
    expect(meta(small!, 'compression')).toBeUndefined();
    expect(meta(big!, 'compression')).toBe('deflate');
    expect(big!.data!.length).toBeLessThan(repetitive.data!.length / 3);
    expect(meta(noise!, 'compression')).toBeUndefined(); // random bytes: deflate would only add
    expect(same(await codec.decode([small!, big!, noise!]))).toEqual(same([input, repetitive, random]));
  });
});

describe('PAYLOAD_KEYS', () => {
  it('parses id:base64key pairs, first one first; names what is wrong without echoing key material', () => {
    const a = randomBytes(32).toString('base64');
    const b = randomBytes(32).toString('base64');
    expect(parsePayloadKeys(`k2:${b}, k1:${a}`)).toEqual([
      { id: 'k2', key: Buffer.from(b, 'base64') },
      { id: 'k1', key: Buffer.from(a, 'base64') },
    ]);
    expect(parsePayloadKeys(`k1:${randomBytes(16).toString('base64')}`)).toMatch(/must be 32 bytes/);
    expect(parsePayloadKeys(`k1:${a},k1:${b}`)).toMatch(/appears twice/);
    expect(parsePayloadKeys(a)).toMatch(/expected id:base64key/);
    expect(String(parsePayloadKeys(`bad id:${a}`))).not.toContain(a);
  });
});
