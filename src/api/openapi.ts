import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import * as s from './schemas';

/**
 * The OpenAPI 3.1 document of the API, built from the zod schemas the routes validate with and
 * answer in (src/api/schemas.ts). Served at /openapi.json; src/client/schema.d.ts is generated
 * from it (`npm run generate:client`). Error codes per status: docs/errors.md.
 */

const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
const html = { 'text/html': { schema: z.string() } };

const retryAfter = z.object({ 'Retry-After': z.string().meta({ description: 'Seconds to wait before trying again' }) });
const ok = (description: string, schema: z.ZodType): ZodOpenApiResponseObject => ({ description, content: json(schema) });
/** An R-ERR answer; `codes` are the codes this operation answers with this status. */
const error = (codes: string, headers?: z.ZodObject): ZodOpenApiResponseObject => ({
  description: codes,
  content: json(s.errorBody),
  ...(headers ? { headers } : {}),
});

const unauthorized = error('UNAUTHENTICATED: no, an unknown or an expired bearer token, or an access token that is not accepted (issuer, audience, expiry, signature, key)', z.object({ 'WWW-Authenticate': z.string() }));
const common = {
  '400': error('VALIDATION_FAILED'),
  '413': error('PAYLOAD_TOO_LARGE'),
  '415': error('UNSUPPORTED_MEDIA_TYPE'),
  '503': error("UNAVAILABLE: PostgreSQL, Temporal or the identity provider's keys cannot be reached", retryAfter),
};
const builtinOff = error("NOT_FOUND: built-in accounts are turned off (AUTH_BUILTIN_ACCOUNTS=false); users sign in with the app's identity provider");
const signedIn = { security: [{ bearer: [] }], responses: { '401': unauthorized } };
const idempotencyKey = z.object({
  'Idempotency-Key': z
    .string()
    .optional()
    .meta({ description: '1-255 visible ASCII characters; the first 2xx answer is replayed for 24 hours (README "Safe retries")' }),
});
const idempotent = {
  '409': error('SAME_EMAIL, EMAIL_TAKEN, IDEMPOTENCY_IN_PROGRESS (+Retry-After)'),
  '422': error('IDEMPOTENCY_KEY_REUSED'),
};

/** Merges the responses of the parts of an operation (later parts win for one status). */
function op(summary: string, ...parts: Partial<ZodOpenApiOperationObject>[]): ZodOpenApiOperationObject {
  const merged = Object.assign({ summary }, ...parts) as ZodOpenApiOperationObject;
  merged.responses = Object.assign({}, ...parts.map((p) => p.responses ?? {}));
  return merged;
}

const linkPage = (description: string) => ({ description, content: html });

export function createOpenApiDocument() {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Email change service',
      version: '1',
      description:
        'Add or change the email address of an account, confirmed by one-time links. The contract is docs/spec.md; every error is `{ error: { code, message, details? } }` with a code listed in docs/errors.md.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: "The `token` from POST /v1/sessions, or an access token (JWT) of the app's identity provider when AUTH_JWKS_URL is set" } } },
    paths: {
      '/v1/users': {
        post: op('Sign up (R-ME)', {
          requestBody: { required: true, content: json(s.newUserBody) },
          responses: {
            ...common,
            '201': ok('The account; an email given here is stored unverified', s.userCreated),
            '404': builtinOff,
            '409': error('USERNAME_TAKEN'),
            '429': error('RATE_LIMITED', retryAfter),
          },
        }),
      },
      '/v1/sessions': {
        post: op('Sign in (R-ME)', {
          requestBody: { required: true, content: json(s.signInBody) },
          responses: {
            ...common,
            '201': ok('A bearer session token', s.session),
            '404': builtinOff,
            '401': error('UNAUTHENTICATED: wrong username or password, or a locked account (one answer for all)', z.object({ 'WWW-Authenticate': z.string() })),
            '429': error('RATE_LIMITED (sign-in back-off)', retryAfter),
          },
        }),
      },
      '/v1/me': {
        get: op('The profile (R-ME, UC01)', signedIn, { responses: { ...signedIn.responses, '200': ok('The profile', s.profile), '503': common['503'] } }),
        patch: op('Set the language and time zone of pages and mail (issue #15)', signedIn, {
          requestBody: { required: true, content: json(s.preferencesBody) },
          responses: { ...signedIn.responses, ...common, '200': ok('The profile', s.profile) },
        }),
      },
      '/v1/email/availability': {
        get: op('Is an address available (R-AVAIL)', signedIn, {
          requestParams: { query: s.availabilityQuery },
          responses: { ...signedIn.responses, ...common, '200': ok('Availability', s.availability), '429': error('RATE_LIMITED', retryAfter) },
        }),
      },
      '/v1/email/change': {
        post: op('Re-authenticate and start (or replace) the change (R-START, R-AUTH)', signedIn, {
          requestParams: { header: idempotencyKey },
          requestBody: { required: true, content: json(s.startChangeBody) },
          responses: {
            ...signedIn.responses,
            ...common,
            ...idempotent,
            '202': ok('Started; the mail goes out asynchronously', s.changeAndLock),
            '400': error('VALIDATION_FAILED, REAUTH_METHOD_UNAVAILABLE (+details.methods)'),
            '403': error('REAUTH_FAILED (+details.attemptsLeft)'),
            '422': error('IDEMPOTENCY_KEY_REUSED, EMAIL_NOT_SUPPORTED (a non-ASCII local part and a mail server without SMTPUTF8)'),
            '503': error("UNAVAILABLE: PostgreSQL, Temporal, the identity provider's keys or (for a non-ASCII local part) the mail server cannot be reached", retryAfter),
            '423': error('LOCKED (+details.lockedUntil): re-authentication locked; CHANGE_BLOCKED (+details.blockedUntil): changes paused after an undo'),
            '429': error('RATE_LIMITED', retryAfter),
          },
        }),
        get: op('The change and the lock (R-STATUS)', signedIn, {
          responses: { ...signedIn.responses, '200': ok('The latest change (null if none) and the lock', s.changeStatus), '503': common['503'] },
        }),
        delete: op('Cancel the pending change (R-CANCEL)', signedIn, {
          responses: {
            ...signedIn.responses,
            '200': ok('The change, CANCELLED', s.changeOnly),
            '404': error('NO_PENDING_CHANGE'),
            '409': error('CHANGE_BEING_APPLIED'),
            '503': common['503'],
          },
        }),
      },
      '/v1/email/change/events': {
        get: op('The change as a live stream of Server-Sent Events (issue #14)', signedIn, {
          description:
            'First an event with the current status, then one whenever it changes: `id: <event id>`, `event: status`, `data: <the body of GET /v1/email/change>`; `: heartbeat` comment lines every SSE_HEARTBEAT_MS. Send `Last-Event-ID` when reconnecting: the first event is then the status as of now, which includes every change after that id. At most SSE_MAX_STREAMS_PER_USER open streams per user on one server (429 beyond).',
          requestParams: { header: z.object({ 'Last-Event-ID': z.string().optional().meta({ description: 'The id of the last event received, when reconnecting' }) }) },
          responses: {
            ...signedIn.responses,
            '200': { description: 'text/event-stream; each `data:` line is a ChangeStatus (JSON)', content: { 'text/event-stream': { schema: z.string() } } },
            '400': error('VALIDATION_FAILED (Last-Event-ID is not an event id)'),
            '429': error('RATE_LIMITED: too many open streams for this user or on this server', retryAfter),
            '503': common['503'],
          },
        }),
      },
      '/v1/email/change/resend': {
        post: op('Send fresh links to the unconfirmed address(es) (R-RESEND)', signedIn, {
          requestParams: { header: idempotencyKey },
          requestBody: { content: json(s.emptyBody), required: false },
          responses: {
            ...signedIn.responses,
            ...common,
            '202': ok('Resent; the mail goes out asynchronously', s.changeAndLock),
            '404': error('NO_PENDING_CHANGE'),
            '409': error('CHANGE_BEING_APPLIED, IDEMPOTENCY_IN_PROGRESS (+Retry-After)'),
            '422': error('IDEMPOTENCY_KEY_REUSED'),
            '429': error('RATE_LIMITED: the cooldown, MAX_RESENDS used up (details.resendsLeft 0), or the address limit', retryAfter),
          },
        }),
      },
      '/v1/email/verify': {
        post: op("Confirm with a link's token, as an app's deep link does (R-VERIFY), or with a mail's typed code (signed in, issue #15)", {
          // Only `code` needs the bearer token; `token` is the credential itself.
          security: [{}, { bearer: [] }],
          requestBody: { required: true, content: json(s.verifyBody) },
          responses: {
            ...common,
            '200': ok('The change after this confirmation (with a token: the other address masked)', s.verifyAnswer),
            '400': error('VALIDATION_FAILED, INVALID_TOKEN, INVALID_CODE (+details.attemptsLeft)'),
            '401': unauthorized,
            '404': error('NO_PENDING_CHANGE (a code, and no pending change)'),
            '409': error('EMAIL_TAKEN, ACCOUNT_EMAIL_CHANGED, CODE_LOCKED (no code is taken any more; the links still work)'),
            '410': error('LINK_EXPIRED (details.reason: expired, resent, superseded, cancelled, finished)'),
          },
        }),
      },
      '/v1/devices': {
        post: op('Register a device key for biometric re-authentication (R-AUTH)', signedIn, {
          requestBody: { required: true, content: json(s.registerDeviceBody) },
          responses: {
            ...signedIn.responses,
            ...common,
            '201': ok('The device', s.device),
            '400': error('VALIDATION_FAILED, REAUTH_METHOD_UNAVAILABLE (+details.methods)'),
            '403': error('REAUTH_FAILED (+details.attemptsLeft)'),
            '423': error('LOCKED (+details.lockedUntil)'),
            '429': error('RATE_LIMITED', retryAfter),
          },
        }),
        get: op('The registered devices', signedIn, { responses: { ...signedIn.responses, '200': ok('Devices', s.deviceList), '503': common['503'] } }),
      },
      '/v1/devices/{id}': {
        delete: op('Revoke a device', signedIn, {
          requestParams: { path: s.deviceIdParams },
          responses: { ...signedIn.responses, '204': { description: 'Revoked' }, '400': common['400'], '404': error('NOT_FOUND'), '503': common['503'] },
        }),
      },
      '/v1/auth/challenges': {
        post: op('A challenge for a device to sign (R-AUTH)', signedIn, {
          requestBody: { required: true, content: json(s.challengeBody) },
          responses: { ...signedIn.responses, ...common, '201': ok('The challenge: single use, 2 minutes', s.challenge), '404': error('NOT_FOUND') },
        }),
      },
      '/verify-email': {
        get: op('The link in the mail: a page with a Confirm button; consumes nothing (R-VERIFY, R-LINK)', {
          requestParams: { query: s.linkTokenQuery },
          responses: {
            '200': linkPage('Confirm, or already confirmed'),
            '400': linkPage('Not a valid link'),
            '409': linkPage('Declined: the address went to another account'),
            '410': linkPage('Expired, replaced, cancelled or finished (with "send a new link" where it can)'),
            '503': linkPage('Try again in a moment'),
          },
        }),
        post: op('The Confirm button (form)', {
          requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: s.linkTokenForm } } },
          responses: {
            '200': linkPage('Confirmed (or already confirmed)'),
            '400': linkPage('Not a valid link'),
            '409': linkPage('Declined'),
            '410': linkPage('Expired, replaced, cancelled or finished'),
            '413': error('PAYLOAD_TOO_LARGE'),
            '415': error('UNSUPPORTED_MEDIA_TYPE'),
            '503': linkPage('Try again in a moment'),
          },
        }),
      },
      '/verify-email/resend': {
        post: op('"Send a new link" on an expired link\'s page (form, R-LINK)', {
          requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: s.linkTokenForm } } },
          responses: {
            '202': linkPage('A new link is on its way'),
            '400': linkPage('Not a valid link'),
            '409': linkPage('Declined'),
            '410': linkPage('The request is no longer open'),
            '413': error('PAYLOAD_TOO_LARGE'),
            '415': error('UNSUPPORTED_MEDIA_TYPE'),
            '429': linkPage('Please wait'),
            '503': linkPage('Try again in a moment'),
          },
        }),
      },
      '/undo-email-change': {
        get: op('The undo link ("this wasn\'t me") in the notice to the previous address: a page with an Undo button; consumes nothing (issue #15)', {
          requestParams: { query: s.linkTokenQuery },
          responses: {
            '200': linkPage('Undo, or already undone'),
            '400': linkPage('Not a valid link'),
            '409': linkPage('Cannot be undone: the previous address is now verified on another account'),
            '410': linkPage('The time to undo has passed'),
            '503': { ...linkPage('Try again in a moment'), headers: retryAfter },
          },
        }),
        post: op('The Undo button (form): restores the previous address, signs every session out and pauses changes (REVERT_LOCK)', {
          requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: s.linkTokenForm } } },
          responses: {
            '200': linkPage('Undone (or already undone)'),
            '400': linkPage('Not a valid link'),
            '409': linkPage('Cannot be undone: the previous address is now verified on another account'),
            '410': linkPage('The time to undo has passed'),
            '413': error('PAYLOAD_TOO_LARGE'),
            '415': error('UNSUPPORTED_MEDIA_TYPE'),
            '503': { ...linkPage('Try again in a moment'), headers: retryAfter },
          },
        }),
      },
      '/healthz': { get: op('Liveness: the process is up (R-OPS)', { responses: { '200': ok('Up', s.health) } }) },
      '/readyz': {
        get: op('Readiness: PostgreSQL and Temporal answer (R-OPS)', {
          responses: { '200': ok('Ready', s.readiness), '503': { description: 'Not ready: which check failed', content: json(s.readiness), headers: retryAfter } },
        }),
      },
    },
  });
}
