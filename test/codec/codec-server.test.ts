import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec } from '../../src/codec/encryption-codec';
import { startStack, type TestStack } from '../helpers/stack';
import { startExtraApi } from '../helpers/services';
import { apiClient, type ApiClient } from '../helpers/http';

/** Issue #10: the codec server the Temporal UI and CLI call, over HTTP against a started API. */

const TOKEN = randomBytes(32).toString('base64url');
const UI = 'http://127.0.0.1:18233';

let stack: TestStack;
let api: ApiClient;
let codec: EncryptionCodec;
beforeAll(async () => {
  stack = await startStack({ CODEC_AUTH_TOKEN: TOKEN, CODEC_CORS_ORIGINS: `${UI},https://temporal-ui.example.com` }, { worker: false });
  api = apiClient(stack.baseUrl);
  codec = new EncryptionCodec(stack.config.payloadKeys);
});
afterAll(async () => {
  await stack?.stop();
});

const b64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('base64');
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
  data: b64(p.data),
});
const fromJson = (p: { metadata: Record<string, string>; data: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});
const headers = (extra: Record<string, string> = {}) => ({ 'x-namespace': 'default', authorization: `Bearer ${TOKEN}`, ...extra });

const plain = [
  defaultPayloadConverter.toPayload('new.address@example.com'),
  defaultPayloadConverter.toPayload({ userId: 'u-1', email: 'someone@example.com', note: 'x'.repeat(600) }), // compressed
  defaultPayloadConverter.toPayload(undefined),
];

describe('POST /codec/decode and /codec/encode', () => {
  it('decodes payloads the service encrypted, with the bearer token or the token in the path', async () => {
    const encrypted = await codec.encode(plain);
    for (const path of ['/codec/decode', `/codec/${TOKEN}/decode`]) {
      const res = await api.post(path, { headers: path.includes(TOKEN) ? { 'x-namespace': 'default' } : headers(), json: { payloads: encrypted.map(toJson) } });
      expect(res.status, res.text).toBe(200);
      expect(res.body.payloads).toEqual(plain.map(toJson));
      expect(defaultPayloadConverter.fromPayload(fromJson(res.body.payloads[0]))).toBe('new.address@example.com');
    }
  });

  it('encodes payloads so the service decrypts them, without leaving plain text in them', async () => {
    const res = await api.post('/codec/encode', { headers: headers(), json: { payloads: plain.map(toJson) } });
    expect(res.status, res.text).toBe(200);
    expect(res.text).not.toContain(b64(plain[0]!.data));
    const encoded = res.body.payloads.map(fromJson);
    expect(Buffer.from(encoded[0].metadata.encoding).toString()).toBe('binary/encrypted');
    expect((await codec.decode(encoded)).map(toJson)).toEqual(plain.map(toJson));
  });

  it('returns a payload under an unknown key unchanged (and says so) while the rest of the batch decodes', async () => {
    const foreign = await new EncryptionCodec([{ id: 'retired', key: randomBytes(32) }]).encode([plain[0]!]);
    const ours = await codec.encode([plain[0]!]);
    const res = await api.post('/codec/decode', { headers: headers(), json: { payloads: [...foreign, ...ours].map(toJson) } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-codec-undecoded')).toBe('1');
    expect(res.body.payloads).toEqual([toJson(foreign[0]!), toJson(plain[0]!)]);
  });
});

describe('the operator credential', () => {
  const body = { payloads: [] };
  it.each([
    ['no credential', '/codec/decode', {}],
    ['a wrong bearer token', '/codec/decode', { authorization: `Bearer ${randomBytes(32).toString('base64url')}` }],
    ['a bearer token one character short', '/codec/decode', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['a wrong token in the path', `/codec/${randomBytes(32).toString('base64url')}/decode`, {}],
    ['a wrong token in the path, even with the right bearer token', `/codec/wrong/encode`, { authorization: `Bearer ${TOKEN}` }],
  ])('refuses %s with 401 and WWW-Authenticate: Bearer', async (_name, path, auth) => {
    const res = await api.post(path, { headers: { 'x-namespace': 'default', ...auth }, json: body });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('never echoes a token from the path', async () => {
    const res = await api.post(`/codec/${TOKEN}/unknown`, { headers: headers(), json: body });
    expect(res.status).toBe(404);
    expect(res.text).not.toContain(TOKEN);
  });

  it('is off (404) when CODEC_AUTH_TOKEN is not set', async () => {
    const plainApi = await startExtraApi(stack.env, { CODEC_AUTH_TOKEN: '' });
    try {
      const res = await apiClient(plainApi.baseUrl).post('/codec/decode', { headers: headers(), json: body });
      expect(res.status).toBe(404);
    } finally {
      await plainApi.stop();
    }
  });
});

describe('the namespace', () => {
  it('refuses another namespace (403) and a request without X-Namespace (400)', async () => {
    const encrypted = (await codec.encode([plain[0]!])).map(toJson);
    const other = await api.post('/codec/decode', { headers: headers({ 'x-namespace': 'payments' }), json: { payloads: encrypted } });
    expect(other.status).toBe(403);
    expect(other.text).not.toContain('new.address');
    const none = await api.post('/codec/decode', { headers: { authorization: `Bearer ${TOKEN}` }, json: { payloads: encrypted } });
    expect(none.status).toBe(400);
  });
});

describe('CORS for the Temporal UI', () => {
  const preflight = (origin: string, path = `/codec/${TOKEN}/decode`) =>
    api.request('OPTIONS', path, {
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });

  it('answers a preflight from an allowed origin', async () => {
    for (const path of ['/codec/decode', `/codec/${TOKEN}/decode`, '/codec/encode']) {
      const res = await preflight(UI, path);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(UI);
      expect(res.headers.get('access-control-allow-methods')).toBe('POST');
      expect(res.headers.get('access-control-allow-headers')).toBe('content-type, x-namespace, authorization');
      expect(res.headers.get('access-control-allow-credentials')).toBe('true');
      expect(res.headers.get('vary')).toMatch(/Origin/);
    }
  });

  it('lets the allowed origin read the answer, and refuses another origin', async () => {
    const ok = await api.post('/codec/decode', { headers: headers({ origin: UI }), json: { payloads: [] } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI);

    const evil = await preflight('https://evil.example');
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const post = await api.post('/codec/decode', { headers: headers({ origin: 'https://evil.example' }), json: { payloads: [] } });
    expect(post.status).toBe(403);
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('bad bodies', () => {
  it.each([
    ['broken JSON', '{"payloads": [', 400],
    ['no payloads', '{}', 400],
    ['payloads not a list', '{"payloads": {"data": "AA=="}}', 400],
    ['data not base64', '{"payloads": [{"metadata": {}, "data": "not base64!"}]}', 400],
    ["metadata not base64", '{"payloads": [{"metadata": {"encoding": "json plain!"}, "data": ""}]}', 400],
    ['a JSON string', '"payloads"', 400],
  ])('answers %s with %i, never 500', async (_name, raw, status) => {
    const res = await api.post('/codec/decode', { headers: headers(), raw });
    expect(res.status, res.text).toBe(status);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('refuses a body that is not JSON (415) and one over the limit (413)', async () => {
    expect((await api.post('/codec/decode', { headers: headers({ 'content-type': 'text/plain' }), raw: 'hello' })).status).toBe(415);
    const big = { payloads: [{ metadata: {}, data: Buffer.alloc(1_100_000).toString('base64') }] };
    expect((await api.post('/codec/decode', { headers: headers(), json: big })).status).toBe(413);
  });

  it('returns an encrypted-looking payload it cannot open (damaged ciphertext) unchanged, not a 500', async () => {
    const [sealed] = await codec.encode([plain[0]!]);
    const damaged = { ...toJson(sealed!), data: b64(Buffer.alloc(40, 1)) };
    const res = await api.post('/codec/decode', { headers: headers(), json: { payloads: [damaged] } });
    expect(res.status).toBe(200);
    expect(res.body.payloads).toEqual([damaged]);
  });
});
