import { z } from 'zod';
import 'zod-openapi'; // the `.meta({ id, param, … })` typings only
import { emailField } from '../email-address';
import { typedCode } from '../verification-codes';
import { localeField, timeZoneField } from '../i18n/fields';

/**
 * The API's contract in zod: what the routes validate requests with, and what they answer.
 * src/api/openapi.ts builds the OpenAPI document from these same schemas (docs/errors.md lists the codes).
 */

// ── requests ─────────────────────────────────────────────────────────────────

/**
 * A string field. Its error map words only what a check does not: a schema-wide `error` string would
 * also replace every length message (an empty token read "must be a string").
 */
const text = () => z.string({ error: stringIssue });

/** The words for a string field's type and length issues; undefined keeps zod's own (and a check's explicit message wins). */
export function stringIssue(issue: { code?: string; minimum?: unknown; maximum?: unknown }): string | undefined {
  if (issue.code === 'invalid_type') return 'must be a string';
  if (issue.code === 'too_small') return Number(issue.minimum) <= 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters`;
  if (issue.code === 'too_big') return `must be at most ${String(issue.maximum)} characters`;
  return undefined;
}
const uuid = (what: string) => z.uuid({ error: `must be ${what}` });

const username = text()
  .min(3, 'must be at least 3 characters')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may contain only letters, digits, dot, dash and underscore');
// The upper bound keeps argon2 input small; the lower bound is NIST 800-63B's minimum.
const password = text().min(8, 'must be at least 8 characters').max(256, 'must be at most 256 characters');

export const newUserBody = z
  .strictObject({ username, password, email: emailField.optional(), locale: localeField.optional(), timeZone: timeZoneField.optional() })
  .meta({ id: 'NewUser' });

/** Issue #15: the account's language and time zone for pages and mail; null clears one. */
export const preferencesBody = z
  .strictObject({ locale: localeField.nullable().optional(), timeZone: timeZoneField.nullable().optional() })
  .refine((body) => body.locale !== undefined || body.timeZone !== undefined, { error: 'send locale, timeZone or both' })
  .meta({ id: 'Preferences' });

// Control characters (NUL above all, which PostgreSQL refuses in text) cannot be in any username: 400, not a lookup.
export const signInBody = z
  .strictObject({
    username: text().max(64).regex(/^[^\p{Cc}]*$/u, 'may not contain control characters'),
    password: text().max(256),
  })
  .meta({ id: 'SignIn' });

const passwordProof = z.strictObject({ method: z.literal('password'), password: text().min(1).max(256) }).meta({ id: 'PasswordProof' });
const base64url = (max: number) => text().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const biometricProof = z
  .strictObject({
    method: z.literal('biometric'),
    deviceId: uuid('a device id'),
    challengeId: uuid('a challenge id'),
    signature: base64url(200).meta({ description: 'ECDSA P-256 / SHA-256 over the challenge bytes: raw r‖s (WebCrypto) or DER, base64url' }),
  })
  .meta({ id: 'BiometricProof' });

// Issue #14: a fresh sign-in at the app's identity provider; its checks are in src/auth/jwt.ts.
const idTokenProof = z
  .strictObject({
    method: z.literal('idToken'),
    idToken: text()
      .min(1)
      .max(8192)
      .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/, 'must be a JWT (three base64url parts)')
      .meta({ description: "An ID token of the app's identity provider for this user, with auth_time within REAUTH_MAX_AGE (compact JWS); single use" }),
  })
  .meta({ id: 'IdTokenProof' });

/** R-AUTH: a fresh proof of identity (password, device key or the identity provider's ID token). */
const reauthProof = z.discriminatedUnion('method', [passwordProof, biometricProof, idTokenProof], {
  error: 'must be { method: "password", password }, { method: "biometric", deviceId, challengeId, signature } or { method: "idToken", idToken }',
});

export const startChangeBody = z.strictObject({ email: emailField, auth: reauthProof }).meta({ id: 'StartChange' });

/** Issue #15 item 7: the 6-digit code of a verification mail, as typed (spaces and dashes ignored). */
const typedCodeField = text()
  .max(32, 'is too long')
  .transform((value, ctx) => {
    const code = typedCode(value);
    if (!code) {
      ctx.addIssue({ code: 'custom', message: 'must be the 6-digit code from the email' });
      return z.NEVER;
    }
    return code;
  })
  .meta({ description: "The 6-digit code of a verification mail; needs the account's Authorization (issue #15)" });

export const verifyBody = z
  .strictObject({ token: text().min(1).max(512).optional().meta({ description: "The link's token (no Authorization needed)" }), code: typedCodeField.optional() })
  .refine((body) => (body.token === undefined) !== (body.code === undefined), { message: "must have either token (the link's) or code (the email's 6 digits), not both" })
  .meta({ id: 'VerifyToken', description: "A link's token, or the signed-in user's typed code" });
export const emptyBody = z.strictObject({}).meta({ description: 'No fields; the body may be left out' });
export const availabilityQuery = z.object({ email: z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be given once') }).max(1024, 'is too long') });

export const registerDeviceBody = z
  .strictObject({
    name: text().trim().min(1).max(100).regex(/^[^\p{Cc}]*$/u, 'may not contain control characters'), // empty is min(1)'s to say
    publicKey: z.record(z.string(), z.unknown(), { error: 'must be a JWK object' }).meta({ description: 'ECDSA P-256 public key as a JWK: { kty: "EC", crv: "P-256", x, y }' }),
    password: text().min(1).max(256).optional().meta({ description: 'The account password; or send `auth` instead' }),
    // Issue #14: an account without a password proves itself with an ID token (or another device).
    auth: reauthProof.optional().meta({ description: 'A re-authentication proof, in place of `password`' }),
  })
  .refine((body) => (body.password === undefined) !== (body.auth === undefined), { error: 'send either password or auth (one of them)', path: ['auth'] })
  .meta({ id: 'RegisterDevice' });
export const challengeBody = z.strictObject({ deviceId: uuid('an id') }).meta({ id: 'ChallengeRequest' });
export const deviceIdParams = z.object({ id: uuid('an id') });

/** The link pages take the token from the query (GET) or the form (POST); anything else is "not a valid link". */
export const linkTokenQuery = z.object({ token: z.string().max(512).optional() });
export const linkTokenForm = z.object({ token: z.string().max(512) });

// ── answers ──────────────────────────────────────────────────────────────────

const dateTime = () => z.iso.datetime({ offset: true });

export const errorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable machine-readable code; docs/errors.md lists every one' }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional().meta({
        description: 'Per code: fields[] {path, message} (VALIDATION_FAILED), attemptsLeft, lockedUntil, retryAfterSeconds, resendsLeft, reason',
      }),
    }),
  })
  .meta({ id: 'Error' });

export const userCreated = z
  .object({ id: z.uuid(), username: z.string(), email: z.string().nullable(), emailVerified: z.boolean() })
  .meta({ id: 'UserCreated' });
export const session = z.object({ token: z.string(), expiresAt: dateTime() }).meta({ id: 'Session' });

const delivery = z
  .object({
    status: z.enum(['pending', 'sending', 'retrying', 'sent', 'failed']),
    attempts: z.number().int().min(0),
    lastError: z.string().optional(),
    sentAt: z.string().optional(),
  })
  .meta({ id: 'Delivery' });

/** Why a request ended, for programs; `reason` beside it is the text for people. */
export const REASON_CODES = ['SUPERSEDED', 'CANCELLED', 'EXPIRED', 'EMAIL_TAKEN', 'ACCOUNT_EMAIL_CHANGED'] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export const change = z
  .object({
    id: z.uuid(),
    state: z.enum(['REQUESTED', 'APPROVED', 'DECLINED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED']),
    kind: z.enum(['ADD', 'UPDATE']),
    newEmail: z.string().nullable().meta({ description: 'null only once the account\'s address history was erased (docs/privacy.md)' }),
    oldEmail: z.string().nullable().meta({ description: 'null for an ADD, and once the address history was erased' }),
    confirmations: z.object({ new: z.boolean(), old: z.boolean().nullable().meta({ description: 'null when the old address need not confirm' }) }),
    createdAt: dateTime(),
    expiresAt: dateTime(),
    linkExpiresAt: dateTime().nullable(),
    resendAvailableAt: dateTime().nullable(),
    resendsLeft: z.number().int().min(0),
    delivery: z.object({ new: delivery, old: delivery.optional() }),
    reason: z.string().nullable().meta({ description: 'Why the request ended, for people' }),
    reasonCode: z.enum(REASON_CODES).nullable().meta({ description: 'Why the request ended, for programs; null while REQUESTED and when APPROVED' }),
  })
  .meta({ id: 'Change', description: 'R-STATUS: an email change request' });

export const lock = z
  .object({ locked: z.boolean(), lockedUntil: dateTime().nullable(), attemptsLeft: z.number().int().min(0) })
  .meta({ id: 'Lock', description: 'R-LOCK: the re-authentication lock of the signed-in user' });

export const changeAndLock = z.object({ change, lock }).meta({ id: 'ChangeAccepted' });
export const changeStatus = z.object({ change: change.nullable(), lock }).meta({ id: 'ChangeStatus' });
export const changeOnly = z.object({ change }).meta({ id: 'ChangeOnly' });
export const verifyAnswer = change.extend({ alreadyConfirmed: z.boolean() }).meta({ id: 'VerifyResult' });

export const profile = z
  .object({
    id: z.uuid(),
    username: z.string(),
    email: z.string().nullable(),
    emailVerified: z.boolean(),
    emailVerifiedAt: dateTime().nullable(),
    previousEmails: z.array(z.object({ email: z.string(), replacedAt: dateTime() })),
    pendingChange: change.nullable(),
    locale: z.string().nullable().meta({ description: 'Language of pages and mail (issue #15); null: the browser\'s, English in mail' }),
    timeZone: z.string().nullable().meta({ description: 'Time zone of the dates in pages and mail; null: UTC' }),
  })
  .meta({ id: 'Profile' });

export const availability = z
  .object({ email: z.string(), available: z.boolean(), reason: z.enum(['invalid', 'taken', 'current', 'unsupported']).optional() })
  .meta({ id: 'Availability' });

export const device = z.object({ id: z.uuid(), name: z.string(), createdAt: dateTime() }).meta({ id: 'Device' });
export const deviceList = z.object({ devices: z.array(device) }).meta({ id: 'DeviceList' });
export const challenge = z
  .object({ challengeId: z.uuid(), challenge: z.string().meta({ description: '32 random bytes, base64url; sign these bytes' }), expiresAt: dateTime() })
  .meta({ id: 'Challenge' });

export const health = z.object({ status: z.literal('ok') });
const check = z.object({ ok: z.boolean(), error: z.string().optional() });
export const readiness = z.object({ status: z.enum(['ready', 'not ready']), checks: z.object({ postgres: check, temporal: check }) }).meta({ id: 'Readiness' });
