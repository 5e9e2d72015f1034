import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, call, signedInUser, type ApiClient } from '../helpers/http';
import { serviceEnv, startApi } from '../helpers/services';
import { freePort } from '../../src/dev/ports';

const APP = 'https://app.example.com';

let stack: TestStack;
let api: ApiClient;
beforeAll(async () => {
  stack = await startStack({ CORS_ORIGINS: `${APP}, https://other.example.org` });
  api = apiClient(stack.baseUrl);
});
afterAll(() => stack?.stop());

const preflight = (path: string, origin: string, baseUrl = stack.baseUrl) =>
  call(baseUrl, 'OPTIONS', path, {
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' },
  });

describe('CORS on the /v1 API only (CORS_ORIGINS, issue #11)', () => {
  it('a browser app on an allowed origin may call /v1 with a bearer token', async () => {
    const res = await preflight('/v1/email/change', APP);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('idempotency-key');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();

    const me = await api.get('/v1/me', { headers: { origin: APP } });
    expect(me.status).toBe(401); // even an error answer is readable by the app
    expect(me.headers.get('access-control-allow-origin')).toBe(APP);
    expect(me.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
  });

  it('without CORS_ORIGINS no origin is allowed', async () => {
    const port = await freePort();
    const plain = await startApi(serviceEnv({ smtpUrl: stack.smtp.url, port }));
    try {
      expect(plain.config.corsOrigins).toEqual([]);
      const res = await preflight('/v1/email/change', APP, plain.baseUrl);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const me = await apiClient(plain.baseUrl).get('/v1/me', { headers: { origin: APP } });
      expect(me.status).toBe(401);
      expect(me.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await plain.stop();
    }
  });

  it('another origin, the link pages and the health checks get no CORS headers', async () => {
    expect((await preflight('/v1/email/change', 'https://evil.example.net')).headers.get('access-control-allow-origin')).toBeNull();
    expect((await api.get('/v1/me', { headers: { origin: 'https://evil.example.net' } })).headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight('/verify-email', APP)).headers.get('access-control-allow-origin')).toBeNull();
    expect((await api.get('/verify-email?token=x', { headers: { origin: APP } })).headers.get('access-control-allow-origin')).toBeNull();
    expect((await api.get('/healthz', { headers: { origin: APP } })).headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('415 for a body the route does not read', () => {
  it('the /v1 API reads JSON only: text/plain and forms are refused, not ignored', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await api.post('/v1/sessions', { raw: 'username=a&password=b', headers: { 'content-type': type } });
      expect(res.status, type).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    const user = await signedInUser(api);
    const bare = await api.post('/v1/email/change/resend', { token: user.token }); // no body at all is fine
    expect(bare.body.error.code).toBe('NO_PENDING_CHANGE');
    expect((await api.post('/v1/email/change/resend', { token: user.token, json: {} })).status).toBe(404);
  });

  it('the link pages read forms (and JSON); other types are 415', async () => {
    const form = await api.post('/verify-email', { raw: 'token=abc', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(400);
    expect(form.headers.get('content-type')).toMatch(/text\/html/);
    for (const page of ['/verify-email', '/verify-email/resend', '/undo-email-change']) {
      const text = await api.post(page, { raw: 'token=abc', headers: { 'content-type': 'text/plain' } });
      expect(text.status, page).toBe(415);
      expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    const undo = await api.post('/undo-email-change', { raw: 'token=abc', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(undo.status).toBe(400); // read, and not a valid link
    expect(undo.headers.get('content-type')).toMatch(/text\/html/);
    expect((await api.post('/undo-email-change', { json: { token: 'abc' } })).status).toBe(400);
  });
});

describe('401 says how to authenticate; parameters are named where they are', () => {
  it('WWW-Authenticate on every 401: missing, unknown and expired tokens, a wrong password', async () => {
    expect((await api.get('/v1/me')).headers.get('www-authenticate')).toBe('Bearer realm="email-change"');
    const unknown = await api.get('/v1/me', { token: 'x'.repeat(43) });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toBe('Bearer realm="email-change", error="invalid_token"');
    const wrong = await api.post('/v1/sessions', { json: { username: 'nobody_here', password: 'not the password' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer realm="email-change"/);
  });

  it('a bad path id is params.id, a missing query parameter query.email', async () => {
    const user = await signedInUser(api);
    const bad = await api.delete('/v1/devices/not-a-uuid', { token: user.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields.map((f: { path: string }) => f.path)).toEqual(['params.id']);
    const missing = await api.get('/v1/email/availability', { token: user.token });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.fields.map((f: { path: string }) => f.path)).toEqual(['query.email']);
  });
});
