import { createHash, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import type { Config } from '../config';
import { AppError } from '../api/errors';
import { parseInput, type AppState } from '../api/middleware';
import { EncryptionCodec, keyIdOf } from './encryption-codec';

/**
 * The codec server of Temporal's remote codec protocol (issue #10), so the Temporal UI and CLI
 * show decrypted payloads: `POST …/decode` and `POST …/encode` with `{ payloads: [Payload as
 * proto3 JSON] }` (bytes as base64), the namespace in `X-Namespace`. The UI posts to
 * `${endpoint}/decode` with Content-Type and X-Namespace, plus `Authorization: Bearer <its access
 * token>` when "pass access token" is on (https endpoints only) and cookies when "include
 * credentials" is on; it takes any JSON answer as the decoded batch.
 *
 * The operator credential is CODEC_AUTH_TOKEN, sent as a bearer token or, for a UI that cannot
 * add headers (the dev server's `--ui-codec-endpoint`), as a path segment: `/codec/<token>/decode`.
 */

/** Payload batches are a workflow's inputs, results or failure details: small here, bounded anyway. */
export const CODEC_BODY_LIMIT = '1mb';
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

type CodecState = AppState & { capability?: string; payloads?: Payload[] };

const base64 = z
  .string()
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'expected base64')
  .refine((s) => s.replace(/=+$/, '').length % 4 !== 1, 'expected base64');
const payloadJson = z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() });
const payloadsBody = z.object({ payloads: z.array(payloadJson) });
type PayloadJson = z.output<typeof payloadJson>;

const fromJson = (p: PayloadJson): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** The codec server's middleware, for /codec/… only; mounted before the app's body parser, which keeps its smaller limit. */
export function codecServer(config: Config) {
  const expected = sha256(config.codec.authToken ?? '');
  const origins = new Set(config.codec.corsOrigins);
  const codec = new EncryptionCodec(config.payloadKeys);

  const router = new Router<CodecState>({ prefix: '/codec' });
  router.use(cors);
  router.options(['/decode', '/encode'], (ctx) => {
    const origin = ctx.get('Origin');
    if (!origins.has(origin)) throw new AppError(403, 'FORBIDDEN', 'This origin may not call the codec server (CODEC_CORS_ORIGINS)');
    ctx.set('Access-Control-Allow-Methods', 'POST');
    ctx.set('Access-Control-Allow-Headers', ALLOWED_HEADERS);
    ctx.set('Access-Control-Max-Age', '600');
    // A UI on a public address calling a codec server on a private one (Chromium's Private Network Access).
    if (ctx.get('Access-Control-Request-Private-Network') === 'true') ctx.set('Access-Control-Allow-Private-Network', 'true');
    ctx.status = 204;
  });
  router.post('/decode', authenticate, checkNamespace, parse, async (ctx) => {
    let undecoded = 0;
    const decoded = await Promise.all(
      ctx.state.payloads!.map(async (payload) => {
        try {
          return (await codec.decode([payload]))[0]!;
        } catch (err) {
          // The protocol has no per-payload error and the UI reads any JSON answer as the batch:
          // one payload we cannot open goes back as it came, still encrypted, and the rest stay readable.
          undecoded++;
          ctx.state.log.warn({ keyId: keyIdOf(payload), reason: (err as Error).message }, 'codec: payload not decodable, returned unchanged');
          return payload;
        }
      }),
    );
    if (undecoded > 0) ctx.set('X-Codec-Undecoded', String(undecoded));
    ctx.body = { payloads: decoded.map(toJson) };
  });
  router.post('/encode', authenticate, checkNamespace, parse, async (ctx) => {
    ctx.body = { payloads: (await codec.encode(ctx.state.payloads!)).map(toJson) };
  });

  /** CORS headers on every answer to an allowed origin (errors included, so the UI can read them). */
  async function cors(ctx: Koa.ParameterizedContext<CodecState>, next: Koa.Next) {
    const origin = ctx.get('Origin');
    ctx.vary('Origin');
    if (origins.has(origin)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Credentials', 'true');
    } else if (origin && ctx.method !== 'OPTIONS') {
      throw new AppError(403, 'FORBIDDEN', 'This origin may not call the codec server (CODEC_CORS_ORIGINS)');
    }
    await next();
  }

  async function authenticate(ctx: Koa.ParameterizedContext<CodecState>, next: Koa.Next) {
    const given = ctx.state.capability ?? /^Bearer (\S+)$/.exec(ctx.get('Authorization'))?.[1];
    if (given === undefined || !timingSafeEqual(sha256(given), expected)) {
      throw new AppError(401, 'UNAUTHENTICATED', 'The codec server needs the operator credential: Authorization: Bearer <CODEC_AUTH_TOKEN>', undefined, {
        'WWW-Authenticate': 'Bearer realm="codec"',
      });
    }
    await next();
  }

  async function checkNamespace(ctx: Koa.ParameterizedContext<CodecState>, next: Koa.Next) {
    const namespace = ctx.get('X-Namespace');
    if (!namespace) throw new AppError(400, 'VALIDATION_FAILED', 'Send the namespace in X-Namespace');
    if (namespace !== config.temporal.namespace) throw new AppError(403, 'FORBIDDEN', `This codec server serves namespace "${config.temporal.namespace}" only`);
    await next();
  }

  const readJson = bodyParser({ enableTypes: ['json'], jsonLimit: CODEC_BODY_LIMIT, jsonStrict: true });
  async function parse(ctx: Koa.ParameterizedContext<CodecState>, next: Koa.Next) {
    if (!ctx.is('application/json')) throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the payloads as application/json');
    await readJson(ctx, async () => undefined);
    ctx.state.payloads = parseInput(payloadsBody, ctx.request.body).payloads.map(fromJson);
    await next();
  }

  const routes = router.routes();
  return async (ctx: Parameters<typeof routes>[0], next: Koa.Next) => {
    if (!ctx.path.startsWith('/codec/')) return next();
    redactCapability(ctx);
    await routes(ctx, next);
  };
}

/**
 * `/codec/<token>/decode` → `/codec/decode` with the token kept aside, before anything routes,
 * logs or echoes the path: a capability URL must not end up in request logs.
 */
function redactCapability(ctx: Koa.ParameterizedContext<CodecState>): void {
  const match = /^\/codec\/([^/]+)\/(.+)$/.exec(ctx.path);
  if (!match) return;
  ctx.state.capability = match[1];
  ctx.path = `/codec/${match[2]}`;
}
