import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import type { IdentityProviderConfig } from '../config';
import { unauthenticated, unavailable } from '../api/errors';

/**
 * Issue #14: the app's own tokens, from its identity provider. Access tokens sign requests in
 * (`Authorization: Bearer <JWT>`); an ID token with a recent `auth_time` is a re-authentication
 * proof. Both are JWS in compact form checked against the provider's JWKS: its issuer, our
 * audience, an asymmetric algorithm from the allow-list, exp/nbf within a small clock tolerance.
 */

/** A JWS in compact form: three base64url parts, two dots (a session token is one part, no dot). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
export const looksLikeJwt = (token: string): boolean => COMPACT_JWS.test(token);

/** Longest `sub` we map to a user (OpenID Connect: at most 255 ASCII characters). */
const MAX_SUBJECT_LENGTH = 255;
/** How long one fetch of the JWKS may take before the request answers 503. */
const JWKS_TIMEOUT_MS = 5_000;

/** What an accepted access token says about its user. */
export interface AccessClaims {
  issuer: string;
  subject: string;
  /** The address the app holds for the user (`email`), as given; unchecked. */
  email?: string;
  /** `email_verified` (true or "true"). */
  emailVerified: boolean;
}

/** The keys could not be fetched (network, timeout, not a JWKS): the provider, not the token, is at fault. */
class KeysUnavailable extends Error {}

/** Why a token was refused, for the 401's message (jose's own texts name claims, never values). */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return err.claim === 'nbf' ? 'it is not valid yet' : `its "${err.claim}" claim is not accepted`;
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'its signature algorithm is not accepted';
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return "no key of the identity provider matches its key id";
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  return 'it is malformed';
}

/** Errors of fetching the key set (as opposed to choosing a key from it). */
function isFetchFailure(err: unknown): boolean {
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) return false;
  // JWKSTimeout, "Expected 200 OK", a body that is no JWKS, or fetch's own TypeError (refused, DNS).
  return err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err as { code?: string }).code === 'ERR_JOSE_GENERIC' || err instanceof TypeError;
}

export class JwtVerifier {
  private readonly keys: JWTVerifyGetKey;

  constructor(readonly config: IdentityProviderConfig) {
    // Cached for jwksCacheMaxAgeMs; an unknown `kid` refetches (key rotation) at most once per cooldown.
    const remote = createRemoteJWKSet(new URL(config.jwksUrl), {
      cooldownDuration: config.jwksCooldownMs,
      cacheMaxAge: config.jwksCacheMaxAgeMs,
      timeoutDuration: JWKS_TIMEOUT_MS,
    });
    this.keys = async (header: ProtectedHeaderParameters, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        throw isFetchFailure(err) ? new KeysUnavailable('the JWKS could not be fetched', { cause: err }) : err;
      }
    };
  }

  get issuer(): string {
    return this.config.issuer;
  }

  private async verify(token: string, audience: string, requiredClaims: string[]): Promise<{ payload: JWTPayload; header: ProtectedHeaderParameters }> {
    const { payload, protectedHeader } = await jwtVerify(token, this.keys, {
      issuer: this.config.issuer,
      audience,
      algorithms: this.config.algorithms,
      clockTolerance: Math.round(this.config.clockToleranceMs / 1000),
      requiredClaims: ['sub', 'exp', ...requiredClaims],
    });
    return { payload, header: protectedHeader };
  }

  /** The claims of an acceptable access token; otherwise 401 (`invalid_token`) saying why, or 503 when the keys are out of reach. */
  async verifyAccessToken(token: string): Promise<AccessClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await this.verify(token, this.config.audience, []));
    } catch (err) {
      if (err instanceof KeysUnavailable) throw unavailable('The identity provider');
      throw unauthenticated(`The access token is not accepted: ${reasonOf(err)}`, 'invalid_token');
    }
    const subject = payload.sub!;
    if (subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH || /\p{Cc}/u.test(subject)) {
      throw unauthenticated('The access token is not accepted: its "sub" claim is not accepted', 'invalid_token');
    }
    return {
      issuer: this.config.issuer,
      subject,
      email: typeof payload.email === 'string' ? payload.email : undefined,
      emailVerified: payload.email_verified === true || payload.email_verified === 'true',
    };
  }

  /**
   * Checks an ID token as a fresh authentication of `subject`: our issuer, the app's client id as
   * audience, `auth_time` within REAUTH_MAX_AGE, the same `sub`, not an access token. Resolves with
   * the time until which it could be accepted (to remember it as spent until then), or undefined for
   * any failure; throws 503 when the keys are out of reach (not the proof's fault, so not counted).
   */
  async verifyIdToken(token: string, subject: string): Promise<{ acceptableUntil: Date } | undefined> {
    if (!looksLikeJwt(token)) return undefined;
    let payload: JWTPayload;
    let header: ProtectedHeaderParameters;
    try {
      ({ payload, header } = await this.verify(token, this.config.idTokenAudience, ['auth_time', 'iat']));
    } catch (err) {
      if (err instanceof KeysUnavailable) throw unavailable('The identity provider');
      return undefined;
    }
    // RFC 9068 access tokens say so in `typ`: one is no proof of a fresh sign-in.
    if (typeof header.typ === 'string' && /^(application\/)?at\+jwt$/i.test(header.typ)) return undefined;
    if (payload.sub !== subject) return undefined;
    const authTime = payload.auth_time;
    if (typeof authTime !== 'number' || !Number.isFinite(authTime)) return undefined;
    const authMs = authTime * 1000;
    const now = Date.now();
    const { reauthMaxAgeMs, clockToleranceMs } = this.config;
    if (authMs > now + clockToleranceMs || now - authMs > reauthMaxAgeMs + clockToleranceMs) return undefined;
    return { acceptableUntil: new Date(authMs + reauthMaxAgeMs + clockToleranceMs) };
  }
}
