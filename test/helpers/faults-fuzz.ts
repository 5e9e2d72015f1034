import fc from 'fast-check';
import { parseEmailAddress } from '../../src/email-address';

/**
 * fast-check arbitraries for the fuzz file (test/faults/fuzz.test.ts): hostile strings and values,
 * request bodies (JSON, raw text that is not JSON, forms, oversized), tokens derived from a real
 * link token, and query strings.
 */

/** Strings that have broken parsers, validators, mail headers and SQL before. */
export const NASTY = [
  '',
  ' ',
  '\r\n',
  '\n',
  '\u0000',
  'a\u0000b@example.com',
  'a@example.com\r\nBcc: evil@example.com',
  'a@example.com\nSubject: hi',
  '\u202e',
  '\ufeff',
  '\u200b@example.com',
  '💥',
  'ｆｕｌｌ＠ｗｉｄｔｈ．ｃｏｍ',
  'jöhn@exämple.com',
  'ǅ@example.com',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'; DROP TABLE users; --",
  "' OR '1'='1",
  '{{7*7}}',
  '${jndi:ldap://127.0.0.1/a}',
  '../../../etc/passwd',
  '%00',
  '%0d%0a',
  '\\',
  '"',
  'null',
  'undefined',
  'NaN',
  '__proto__',
  'constructor',
  'a'.repeat(65) + '@example.com',
  `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`,
  'user@[127.0.0.1]',
  'user@localhost',
  '"quoted local"@example.com',
  'user..dots@example.com',
  '.user@example.com',
  'user@-example.com',
  'user@example.c',
  'USER@EXAMPLE.COM ',
  ' user@example.com',
];

const withControl = fc
  .tuple(fc.string({ maxLength: 20 }), fc.constantFrom('\r\n', '\u0000', '\n', '\r', '\t', '\u0007', '\u001b[31m', '\u2028'), fc.string({ maxLength: 20 }))
  .map(([a, c, b]) => a + c + b);

/** Any hostile string: listed ones, ASCII, any code point, unicode graphemes, control characters, huge. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY), weight: 3 },
  { arbitrary: fc.string({ maxLength: 80 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 60 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: withControl, weight: 2 },
  { arbitrary: fc.emailAddress().chain((e) => fc.constantFrom(e, `${e}\r\nBcc: x@example.com`, `${e}\u0000`, e.toUpperCase(), `${e}.`, `<${e}>`)), weight: 2 },
  { arbitrary: fc.integer({ min: 257, max: 12_000 }).chain((n) => fc.constantFrom('A'.repeat(n), 'é'.repeat(n), '😀'.repeat(n / 2))), weight: 1 },
);

/** A value of the wrong type for a string field. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);

export const anyValue: fc.Arbitrary<unknown> = fc.oneof({ arbitrary: nastyString, weight: 3 }, { arbitrary: wrongType, weight: 2 });

const extraKey = fc.oneof(fc.constantFrom('admin', 'role', 'id', 'emailVerified', 'userId', '__proto__', 'constructor', 'email ', 'Email'), fc.string({ minLength: 1, maxLength: 12 }));

/** An object with some of `keys` (each any value or a given good value) and sometimes extra keys. */
export function fieldsBody(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const values = Object.fromEntries(Object.entries(fields).map(([k, good]) => [k, fc.oneof(anyValue, good)]));
  return fc
    .tuple(fc.record(values, { requiredKeys: [] }), fc.option(fc.dictionary(extraKey, anyValue, { minKeys: 1, maxKeys: 3 }), { freq: 3 }))
    .map(([body, extra]) => {
      const out: Record<string, unknown> = { ...body };
      // Own properties, even for __proto__ (as JSON.parse would make them).
      for (const [k, v] of Object.entries(extra ?? {})) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      return out;
    });
}

export type FuzzRequest =
  | { kind: 'json'; value: unknown; contentType: string }
  | { kind: 'raw'; body: string; contentType: string }
  | { kind: 'none'; contentType?: string };

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/json;charset=latin1', 'application/vnd.api+json', 'application/csp-report'];
const OTHER_TYPES = ['text/plain', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/octet-stream', 'application/json-patch+json', 'image/png'];

/** Text that is not (valid, strict) JSON, or is JSON of the wrong shape at the top. */
export const badJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('{', '}', '{"email":', '[1,2', '{"a":1,}', 'nul', 'tru', '"just a string"', '123', 'null', 'true', '{"a":"\\ud800"}', '\u0000{}', '{}garbage', "{'single':1}", '{"a":1}{"b":2}', '\ufeff{}', '{"a":\u0000}', '{"__proto__":{"admin":true}}', '[]', '[{}]', '{"token":"a","token":"b"}', '{"a":1e999999}', `${'['.repeat(5000)}${']'.repeat(5000)}`, `{"a":${'1'.repeat(5000)}}`),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v).slice(0, -1)),
);

/** A body over the 16 kB limit (413). */
export const oversized: fc.Arbitrary<FuzzRequest> = fc
  .tuple(fc.integer({ min: 16 * 1024 + 1, max: 80 * 1024 }), fc.constantFrom('application/json', 'application/x-www-form-urlencoded'))
  .map(([n, contentType]) => ({ kind: 'raw', contentType, body: contentType.includes('json') ? JSON.stringify({ pad: 'x'.repeat(n) }) : `token=${'x'.repeat(n)}` }));

/** Requests for a JSON endpoint: shaped bodies (JSON or other content types), bad JSON, any JSON, no body, oversized. */
export function jsonRequests(body: fc.Arbitrary<unknown>): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('json' as const), value: body, contentType: fc.constantFrom(...JSON_TYPES) }), weight: 8 },
    { arbitrary: fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 3 }), contentType: fc.constantFrom(...JSON_TYPES) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('raw' as const), body: badJsonText, contentType: fc.constantFrom(...JSON_TYPES) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('raw' as const), body: fc.oneof(badJsonText, fc.string()), contentType: fc.constantFrom(...OTHER_TYPES) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('none' as const), contentType: fc.option(fc.constantFrom(...JSON_TYPES, ...OTHER_TYPES), { nil: undefined }) }), weight: 1 },
    { arbitrary: oversized, weight: 1 },
  );
}

/** Requests for a form endpoint (the link pages' POSTs): forms with hostile fields, JSON, bad bodies, oversized. */
export function formRequests(token: fc.Arbitrary<unknown>): fc.Arbitrary<FuzzRequest> {
  const form = fc
    .tuple(fc.option(token, { freq: 6 }), fc.dictionary(extraKey, nastyString, { maxKeys: 2 }), fc.boolean())
    .map(([t, extra, repeat]) => {
      const params = new URLSearchParams();
      if (t !== null) params.append('token', typeof t === 'string' ? t : JSON.stringify(t));
      if (repeat && typeof t === 'string') params.append('token', t);
      for (const [k, v] of Object.entries(extra)) params.append(k, v);
      return params.toString();
    });
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('raw' as const), body: form, contentType: fc.constant('application/x-www-form-urlencoded') }), weight: 8 },
    { arbitrary: fc.record({ kind: fc.constant('raw' as const), body: fc.oneof(badJsonText, fc.string({ unit: 'binary' }), fc.constantFrom('token[]=a', 'token[a]=b', 'token=%E0%A4%A', 'token=%', '%%%', '=&&==', 'token=a%00b', 'token=a%0d%0ab')), contentType: fc.constantFrom('application/x-www-form-urlencoded', ...JSON_TYPES, ...OTHER_TYPES) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('json' as const), value: fieldsBody({ token }), contentType: fc.constantFrom(...JSON_TYPES) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('none' as const), contentType: fc.option(fc.constantFrom('application/x-www-form-urlencoded', ...OTHER_TYPES), { nil: undefined }) }), weight: 1 },
    { arbitrary: oversized, weight: 1 },
  );
}

/**
 * Tokens that are not `real`: random ones, ones of the right length and alphabet, and `real` bit-flipped,
 * cut, extended, re-cased, percent-encoded, padded, or re-encoded with different unused bits (same bytes).
 */
export function tokensNear(real: string): fc.Arbitrary<string> {
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const b64char = fc.constantFrom(...B64);
  const mutated = fc.oneof(
    fc.tuple(fc.nat(real.length - 1), b64char).map(([i, c]) => real.slice(0, i) + c + real.slice(i + 1)),
    fc.nat(real.length - 1).map((n) => real.slice(0, n)),
    fc.string({ minLength: 1, maxLength: 8 }).map((s) => real + s),
    fc.constantFrom(real.toUpperCase(), real.toLowerCase(), `${real}=`, `${real}==`, ` ${real}`, `${real} `, `${real}\n`, `${real}\u0000`, real.replace(/-/g, '+').replace(/_/g, '/'), encodeURIComponent(real).replace(/A/g, '%41')),
    // Same decoded bytes, different text: the last character's unused low bits.
    fc.constantFrom(...B64.split('').map((c) => real.slice(0, -1) + c)),
  );
  return fc.oneof(
    { arbitrary: mutated, weight: 5 },
    { arbitrary: fc.string({ unit: b64char, minLength: real.length, maxLength: real.length }), weight: 2 },
    { arbitrary: nastyString, weight: 3 },
  ).filter((t) => t !== real);
}

/** A query string (without "?") carrying `name`: one value, repeated, nested, empty, malformed percent-encoding, huge. */
export function queryStrings(name: string, value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: value.map((v) => `${name}=${encodeURIComponent(v)}`), weight: 6 },
    { arbitrary: fc.tuple(value, value).map(([a, b]) => `${name}=${encodeURIComponent(a)}&${name}=${encodeURIComponent(b)}`), weight: 1 },
    { arbitrary: value.map((v) => `${name}[]=${encodeURIComponent(v)}&${name}[x]=1`), weight: 1 },
    {
      arbitrary: fc.constantFrom('', `${name}=`, `${name}`, `${name}=%E0%A4%A`, `${name}=%`, `${name}=%%`, '=&&==', `${name}=a%00b`, `${name}=a%0d%0ab`, `${name}=${'%41'.repeat(2000)}`, `${name}=${'x'.repeat(20_000)}`, `${name.toUpperCase()}=a@example.com`),
      weight: 2,
    },
    { arbitrary: fc.string({ maxLength: 60 }).map((s) => encodeURI(s)), weight: 1 },
  );
}

/** Values for an Authorization header that are not a live session (fetch refuses CR, LF and NUL in headers). */
export const badAuthorization: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'bearer aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', `Bearer ${'A'.repeat(43)}`, `Bearer ${'A'.repeat(101)}`, 'Bearer null', 'Bearer undefined', "Bearer ' OR 1=1 --", 'Bearer ../../etc'),
  fc.string({ maxLength: 120 }).map((s) => `Bearer ${s}`.trim()),
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), minLength: 20, maxLength: 100 }).map((s) => `Bearer ${s}`),
);

/** Printable ASCII request ids, some that must not be echoed back. */
export const requestIds: fc.Arbitrary<string | undefined> = fc.option(fc.oneof(fc.string({ maxLength: 100 }), fc.constantFrom('ok-id_1.2', '<script>', 'a'.repeat(65), '../x', 'a b')), { nil: undefined });

/** Length as zod counts it for the contract's limits: characters (code points), not UTF-16 units (an emoji is one). */
const chars = (text: string) => [...text].length;

/** The documented contract of POST /v1/users (for filtering out the rare valid body). */
export function isValidSignUp(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  if (Object.keys(b).some((k) => !['username', 'password', 'email'].includes(k))) return false;
  const okUser = typeof b.username === 'string' && /^[A-Za-z0-9_.-]{3,64}$/.test(b.username);
  const okPassword = typeof b.password === 'string' && chars(b.password) >= 8 && chars(b.password) <= 256;
  const okEmail = b.email === undefined || (typeof b.email === 'string' && b.email.length <= 1024 && parseEmailAddress(b.email) !== undefined);
  return okUser && okPassword && okEmail;
}

/** The documented contract of POST /v1/email/change (a valid body would spend a re-authentication try). */
export function isValidStart(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  if (Object.keys(b).some((k) => !['email', 'auth'].includes(k))) return false;
  if (typeof b.email !== 'string' || b.email.length > 1024 || !parseEmailAddress(b.email)) return false;
  const auth = b.auth as Record<string, unknown> | null;
  if (typeof auth !== 'object' || auth === null || Array.isArray(auth)) return false;
  return auth.method === 'password' && typeof auth.password === 'string' && chars(auth.password) >= 1 && chars(auth.password) <= 256 && Object.keys(auth).every((k) => k === 'method' || k === 'password');
}
