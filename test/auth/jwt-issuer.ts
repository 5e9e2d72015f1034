import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/**
 * A local identity provider for the issue #14 tests: key pairs made with jose, their public
 * halves served as a JWKS by node:http on a free port, and tokens signed the way a real provider
 * signs them (or, on request, the ways an attacker would).
 */

export const AUDIENCE = 'https://email-change.example.com';
export const CLIENT_ID = 'wallet-app';

interface Key {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export interface TokenOptions {
  kid?: string;
  alg?: string;
  typ?: string;
  iss?: string;
  aud?: string | string[];
  /** Seconds since the epoch; default now + 5 minutes. */
  exp?: number;
  nbf?: number;
  /** Leave a registered claim out. */
  omit?: string[];
}

export interface Issuer {
  /** The `iss` of its tokens. */
  issuer: string;
  jwksUrl: string;
  /** The environment that points the service at this issuer. */
  env: Record<string, string>;
  /** How many times the JWKS was fetched. */
  fetches(): number;
  /** A new key pair; published unless `publish: false`. */
  addKey(alg?: string, opts?: { publish?: boolean }): Promise<string>;
  /** Publishes exactly these keys (rotation: the old one leaves, the new one arrives). */
  publish(kids: string[]): void;
  currentKid(): string;
  sign(claims: JWTPayload, opts?: TokenOptions): Promise<string>;
  accessToken(sub: string, claims?: JWTPayload, opts?: TokenOptions): Promise<string>;
  /** An ID token for the app (aud = CLIENT_ID) whose auth_time is `authAgoSeconds` ago. */
  idToken(sub: string, authAgoSeconds?: number, opts?: TokenOptions): Promise<string>;
  /** The PEM of a published public key (for the HS256-with-the-public-key attack). */
  publicKeyPem(kid: string): Promise<string>;
  stop(): Promise<void>;
}

const now = () => Math.floor(Date.now() / 1000);

export async function startIssuer(): Promise<Issuer> {
  const keys = new Map<string, Key>();
  let published: string[] = [];
  let current = '';
  let fetchCount = 0;

  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      fetchCount++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: published.map((kid) => keys.get(kid)!.publicJwk) }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/`;

  const issuerApi: Issuer = {
    issuer,
    jwksUrl: `${base}/.well-known/jwks.json`,
    env: {
      AUTH_JWKS_URL: `${base}/.well-known/jwks.json`,
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_ID_TOKEN_AUDIENCE: CLIENT_ID,
    },
    fetches: () => fetchCount,
    async addKey(alg = 'RS256', opts = {}) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const kid = randomUUID();
      keys.set(kid, { kid, alg, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } });
      if (opts.publish !== false) {
        published.push(kid);
        current = kid;
      }
      return kid;
    },
    publish(kids) {
      published = [...kids];
      current = kids[kids.length - 1]!;
    },
    currentKid: () => current,
    async sign(claims, opts = {}) {
      const key = keys.get(opts.kid ?? current)!;
      const payload: JWTPayload = { iss: opts.iss ?? issuer, aud: opts.aud ?? AUDIENCE, iat: now(), exp: opts.exp ?? now() + 300, ...claims };
      if (opts.nbf !== undefined) payload.nbf = opts.nbf;
      for (const name of opts.omit ?? []) delete payload[name];
      return new SignJWT(payload).setProtectedHeader({ alg: opts.alg ?? key.alg, kid: key.kid, ...(opts.typ ? { typ: opts.typ } : {}) }).sign(key.privateKey);
    },
    accessToken(sub, claims = {}, opts = {}) {
      return issuerApi.sign({ sub, ...claims }, opts);
    },
    idToken(sub, authAgoSeconds = 10, opts = {}) {
      return issuerApi.sign({ sub, auth_time: now() - authAgoSeconds, nonce: randomUUID() }, { aud: CLIENT_ID, ...opts });
    },
    async publicKeyPem(kid) {
      return exportSPKI(keys.get(kid)!.publicKey);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  await issuerApi.addKey();
  return issuerApi;
}

/** `alg: none`: a header and a payload, no signature. */
export function unsignedToken(payload: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}

/** An HS256 token whose HMAC key is the provider's public key (the classic algorithm-confusion attack). */
export async function hs256WithPublicKey(publicPem: string, kid: string, payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(publicPem));
}

export const claimsFor = (issuer: Issuer, sub: string, extra: JWTPayload = {}): JWTPayload => ({
  iss: issuer.issuer,
  aud: AUDIENCE,
  sub,
  iat: now(),
  exp: now() + 300,
  ...extra,
});
