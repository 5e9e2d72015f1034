import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { freePort } from '../../src/dev/ports';
import { serviceEnv, startApi, type FaultApi } from '../helpers/services';
import { apiClient } from '../helpers/http';
import { startSmtpCapture, type SmtpCapture } from '../../src/dev/smtp-capture';
import { startIssuer, type Issuer } from './jwt-issuer';

/** Issue #14: configuring the identity provider, and the mode without built-in accounts. */

const IDP = { AUTH_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', AUTH_ISSUER: 'https://idp.example.com/', AUTH_AUDIENCE: 'https://api.example.com' };
const PRODUCTION = {
  NODE_ENV: 'production',
  TOKEN_SECRET: randomBytes(32).toString('base64url'),
  PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  PUBLIC_BASE_URL: 'https://wallet.example.com',
};
const refusal = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('identity provider configuration', () => {
  it('is off by default; on with all three variables, with the documented defaults', () => {
    expect(loadConfig({}).identityProvider).toBeUndefined();
    expect(loadConfig({}).builtinAccounts).toBe(true);
    expect(loadConfig(IDP).identityProvider).toEqual({
      jwksUrl: IDP.AUTH_JWKS_URL,
      issuer: IDP.AUTH_ISSUER,
      audience: IDP.AUTH_AUDIENCE,
      idTokenAudience: IDP.AUTH_AUDIENCE,
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      clockToleranceMs: 30_000,
      jwksCooldownMs: 30_000,
      jwksCacheMaxAgeMs: 600_000,
      reauthMaxAgeMs: 300_000,
    });
    expect(loadConfig({ ...IDP, AUTH_ID_TOKEN_AUDIENCE: 'wallet-app', REAUTH_MAX_AGE: '2m' }).identityProvider).toMatchObject({ idTokenAudience: 'wallet-app', reauthMaxAgeMs: 120_000 });
  });

  it('needs all three of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE', () => {
    expect(refusal({ AUTH_JWKS_URL: IDP.AUTH_JWKS_URL, AUTH_ISSUER: IDP.AUTH_ISSUER })).toMatch(/AUTH_AUDIENCE: is required with the other/);
    expect(refusal({ AUTH_AUDIENCE: 'x' })).toMatch(/AUTH_JWKS_URL: is required/);
  });

  it('allows asymmetric algorithms only', () => {
    expect(refusal({ ...IDP, AUTH_JWT_ALGORITHMS: 'RS256,HS256' })).toMatch(/AUTH_JWT_ALGORITHMS: .*asymmetric algorithms only/);
    expect(refusal({ ...IDP, AUTH_JWT_ALGORITHMS: 'none' })).toMatch(/AUTH_JWT_ALGORITHMS/);
    expect(loadConfig({ ...IDP, AUTH_JWT_ALGORITHMS: 'PS256, ES384' }).identityProvider!.algorithms).toEqual(['PS256', 'ES384']);
  });

  it('keeps the clock tolerance small, the keys on https in production, and someone able to sign in', () => {
    expect(refusal({ ...IDP, AUTH_CLOCK_TOLERANCE: '10m' })).toMatch(/AUTH_CLOCK_TOLERANCE: must be at most 5m/);
    expect(refusal({ ...PRODUCTION, ...IDP, AUTH_JWKS_URL: 'http://idp.example.com/jwks.json' })).toMatch(/AUTH_JWKS_URL: must be an https URL/);
    expect(loadConfig({ ...PRODUCTION, ...IDP }).identityProvider?.jwksUrl).toBe(IDP.AUTH_JWKS_URL);
    expect(refusal({ AUTH_BUILTIN_ACCOUNTS: 'false' })).toMatch(/AUTH_BUILTIN_ACCOUNTS: may be false only with AUTH_JWKS_URL/);
  });
});

describe('AUTH_BUILTIN_ACCOUNTS=false, and no identity provider', () => {
  let idp: Issuer;
  let smtp: SmtpCapture;
  let tokensOnly: FaultApi;
  let sessionsOnly: FaultApi;
  beforeAll(async () => {
    idp = await startIssuer();
    smtp = await startSmtpCapture();
    tokensOnly = await startApi(serviceEnv({ smtpUrl: smtp.url, port: await freePort(), env: { ...idp.env, AUTH_BUILTIN_ACCOUNTS: 'false' } }));
    sessionsOnly = await startApi(serviceEnv({ smtpUrl: smtp.url, port: await freePort() }));
  });
  afterAll(async () => {
    await tokensOnly?.stop();
    await sessionsOnly?.stop();
    await smtp?.stop();
    await idp?.stop();
  });

  it('turned off, sign-up and sign-in are 404 and sessions no longer sign in; access tokens do', async () => {
    const api = apiClient(tokensOnly.baseUrl);
    const signUp = await api.post('/v1/users', { json: { username: `off_${randomBytes(4).toString('hex')}`, password: 'correct horse battery staple' } });
    expect(signUp.status).toBe(404);
    expect(signUp.body.error.code).toBe('NOT_FOUND');
    expect((await api.post('/v1/sessions', { json: { username: 'someone', password: 'whatever-it-is' } })).status).toBe(404);

    // A session made while they were on (through the other API, same database) no longer works here.
    const other = apiClient(sessionsOnly.baseUrl);
    const username = `on_${randomBytes(4).toString('hex')}`;
    expect((await other.post('/v1/users', { json: { username, password: 'correct horse battery staple' } })).status).toBe(201);
    const session = await other.post('/v1/sessions', { json: { username, password: 'correct horse battery staple' } });
    const refused = await api.get('/v1/me', { token: session.body.token });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/invalid_token/);

    expect((await api.get('/v1/me', { token: await idp.accessToken(`user-${randomBytes(8).toString('hex')}`) })).status).toBe(200);
  });

  it('without AUTH_JWKS_URL, an access token is 401 invalid_token saying sessions are what works here', async () => {
    const res = await apiClient(sessionsOnly.baseUrl).get('/v1/me', { token: await idp.accessToken('someone') });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/session token/);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="email-change", error="invalid_token"');
  });
});
