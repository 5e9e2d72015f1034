import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileErrors, validate } from '@readme/openapi-parser';
import { createOpenApiDocument } from '../../src/api/openapi';
import { createEmailChangeClient } from '../../src/client';
import { OPENAPI_JSON_PATH, SCHEMA_TYPES_PATH, openApiJson, schemaTypes } from '../../src/client/generate';
import { startStack, type TestStack } from '../helpers/stack';
import { apiClient, call, contractStats, signedInUser, uniqueEmail } from '../helpers/http';
import { openApiProblems } from '../helpers/openapi-check';
import { tokenFromMail } from '../helpers/flow';
import { startWithBiometric } from '../../scripts/biometric-client';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

/** A fetch that fails on any answer outside the document, for the typed client. */
const checkedFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const res = await fetch(request);
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await res.clone().json() : await res.clone().text();
  const problems = openApiProblems(request.method, request.url, { status: res.status, headers: res.headers, body });
  if (problems.length) throw new Error(problems.join('; '));
  contractStats.checked++;
  return res;
};

describe('the OpenAPI document (issue #11)', () => {
  it('is valid OpenAPI 3.1 and describes every endpoint', async () => {
    const document = createOpenApiDocument();
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths ?? {}).sort()).toEqual(
      [
        '/v1/users', '/v1/sessions', '/v1/me', '/v1/email/availability', '/v1/email/change', '/v1/email/change/events', '/v1/email/change/resend', '/v1/email/verify',
        '/v1/devices', '/v1/devices/{id}', '/v1/auth/challenges', '/verify-email', '/verify-email/resend', '/undo-email-change', '/healthz', '/readyz',
      ].sort(),
    );
    expect(document.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('is served at /openapi.json, browsable at /docs with assets from node_modules (no CDN)', async () => {
    const api = apiClient(stack.baseUrl);
    const served = await api.get('/openapi.json');
    expect(served.status).toBe(200);
    expect(served.body).toEqual({ ...JSON.parse(JSON.stringify(createOpenApiDocument())), servers: [{ url: stack.config.publicBaseUrl }] });
    const page = await api.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThanOrEqual(3);
    for (const source of sources) {
      expect(source, 'served from this origin').toMatch(/^\/docs\//);
      const asset = await api.get(source);
      expect(asset.status, source).toBe(200);
      expect(asset.text.length).toBeGreaterThan(source.endsWith('init.js') ? 50 : 10_000);
    }
  });

  it('the committed docs/openapi.json and src/client/schema.d.ts are current (npm run generate:client)', async () => {
    expect(fs.readFileSync(OPENAPI_JSON_PATH, 'utf8')).toBe(openApiJson());
    expect(fs.readFileSync(SCHEMA_TYPES_PATH, 'utf8')).toBe(await schemaTypes());
  });

  it('an answer outside the document is caught: an undocumented status, a body that does not match', () => {
    const headers = new Headers({ 'content-type': 'application/json' });
    expect(openApiProblems('GET', '/v1/me', { status: 418, headers, body: {} })[0]).toMatch(/status not in the OpenAPI document/);
    expect(openApiProblems('GET', '/healthz', { status: 200, headers, body: { status: 'fine' } })[0]).toMatch(/does not match/);
    expect(openApiProblems('GET', '/healthz', { status: 200, headers, body: { status: 'ok' } })).toEqual([]);
  });

  it('an API or link-page answer the document does not describe is caught; HEAD is judged as GET; other paths and CORS preflights are not judged', () => {
    const json = new Headers({ 'content-type': 'application/json' });
    const html = new Headers({ 'content-type': 'text/html; charset=utf-8' });
    const notFound = { status: 404, headers: json, body: { error: { code: 'NOT_FOUND', message: 'No route' } } };
    expect(openApiProblems('GET', '/v1/nowhere', notFound)).toEqual(['GET /v1/nowhere → 404: the path is not in the OpenAPI document']);
    expect(openApiProblems('PUT', '/v1/me', { ...notFound, status: 405 })).toEqual(['PUT /v1/me → 405: PUT /v1/me is not in the OpenAPI document']);
    expect(openApiProblems('GET', '/undo-email-change/extra', { status: 404, headers: json, body: {} })).toHaveLength(1);
    expect(openApiProblems('GET', '/verify-email/resend?token=x', { status: 405, headers: json, body: {} })).toHaveLength(1);
    expect(openApiProblems('GET', '/undo-email-change?token=x', { status: 400, headers: html, body: '<html>' })).toEqual([]);
    expect(openApiProblems('HEAD', '/verify-email?token=x', { status: 200, headers: html, body: '' })).toEqual([]);
    expect(openApiProblems('HEAD', '/v1/me', { status: 200, headers: json, body: '' })).toEqual([]);
    expect(openApiProblems('HEAD', '/verify-email?token=x', { status: 418, headers: html, body: '' })[0]).toMatch(/status not in the OpenAPI document/);
    expect(openApiProblems('GET', '/dev/outbox', { status: 200, headers: html, body: '' })).toEqual([]);
    expect(openApiProblems('GET', '/nowhere', notFound)).toEqual([]);
    expect(openApiProblems('OPTIONS', '/v1/email/change', { status: 204, headers: new Headers(), body: '' })).toEqual([]);
  });
});

describe('the typed client (src/client) end to end, every answer checked against the document', () => {
  it('signs in, adds an address, confirms it from the mail and sees it APPROVED', async () => {
    const user = await signedInUser(apiClient(stack.baseUrl));
    const anonymous = createEmailChangeClient(stack.baseUrl, { fetch: checkedFetch });
    const session = await anonymous.POST('/v1/sessions', { body: { username: user.username, password: user.password } });
    expect(session.response.status).toBe(201);
    const api = createEmailChangeClient(stack.baseUrl, { token: session.data!.token, fetch: checkedFetch });

    const email = uniqueEmail('typed');
    const available = await api.GET('/v1/email/availability', { params: { query: { email } } });
    expect(available.data).toEqual({ email, available: true });
    const started = await api.POST('/v1/email/change', { body: { email, auth: { method: 'password', password: user.password } } });
    expect(started.response.status).toBe(202);
    expect(started.data!.change).toMatchObject({ state: 'REQUESTED', kind: 'ADD', newEmail: email, reasonCode: null });

    const verified = await api.POST('/v1/email/verify', { body: { token: await tokenFromMail(stack.smtp, email) } });
    expect(verified.data).toMatchObject({ state: 'APPROVED', alreadyConfirmed: false });
    const me = await api.GET('/v1/me');
    expect(me.data).toMatchObject({ email, emailVerified: true, pendingChange: null });

    const nothing = await api.DELETE('/v1/email/change');
    expect(nothing.response.status).toBe(404);
    expect(nothing.error?.error.code).toBe('NO_PENDING_CHANGE');
    const signedOut = await anonymous.GET('/v1/me');
    expect(signedOut.error?.error.code).toBe('UNAUTHENTICATED');
  });

  it('the example client (scripts/biometric-client.ts) registers a key and starts a change through it', async () => {
    const user = await signedInUser(apiClient(stack.baseUrl));
    const email = uniqueEmail('bio-example');
    const { device, started } = await startWithBiometric(stack.baseUrl, user.username, user.password, email);
    expect(device.name).toBe('Example phone');
    expect(started.change).toMatchObject({ state: 'REQUESTED', newEmail: email });
    expect(started.lock).toMatchObject({ locked: false });
  });

  it('the acceptance tests checked their answers (this file too)', async () => {
    const before = contractStats.checked;
    await call(stack.baseUrl, 'GET', '/healthz');
    expect(contractStats.checked).toBe(before + 1);
  });
});
