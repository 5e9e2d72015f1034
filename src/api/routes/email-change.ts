import Router from '@koa/router';
import { z } from 'zod';
import { emailField, parseEmailAddress } from '../../email-address';
import type { Accounts } from '../../accounts/accounts';
import { clientKey } from '../../auth/client-key';
import type { RateLimits } from '../../auth/rate-limits';
import type { EmailChangeService } from '../../email-change/service';
import { parseInput, requireUser, type AppState } from '../middleware';
import { fingerprintKey, idempotent } from '../idempotency';
import type pg from 'pg';

const passwordProof = z.strictObject({ method: z.literal('password'), password: z.string({ error: 'must be a string' }).min(1).max(256) });
const base64url = (max: number) => z.string({ error: 'must be a string' }).min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const biometricProof = z.strictObject({
  method: z.literal('biometric'),
  deviceId: z.uuid({ error: 'must be a device id' }),
  challengeId: z.uuid({ error: 'must be a challenge id' }),
  signature: base64url(200),
});
const startBody = z.strictObject({
  email: emailField,
  auth: z.discriminatedUnion('method', [passwordProof, biometricProof], {
    error: 'must be { method: "password", password } or { method: "biometric", deviceId, challengeId, signature }',
  }),
});
const verifyBody = z.strictObject({ token: z.string({ error: 'must be a string' }).min(1).max(512) });
const availabilityQuery = z.object({ email: z.string({ error: 'is required' }).max(1024, 'is too long') });

/** The JSON API of the email change flow (R-AVAIL, R-START, R-STATUS, R-RESEND, R-CANCEL, R-VERIFY). */
export function emailChangeRoutes(accounts: Accounts, service: EmailChangeService, pool: pg.Pool, tokenSecret: string, limits: RateLimits): Router<AppState> {
  const router = new Router<AppState>();
  const signedIn = requireUser(accounts);
  const oncePerKey = idempotent(pool, fingerprintKey(tokenSecret));

  router.get(
    '/v1/email/availability',
    signedIn,
    async (ctx) => {
      await limits.consume('availabilityPerUser', ctx.state.user!.id);
      await limits.consume('availabilityPerClient', clientKey(ctx.ip));
      const { email } = parseInput(availabilityQuery, ctx.query);
      ctx.body = await service.availability(ctx.state.user!, parseEmailAddress(email), email);
    },
  );

  router.post('/v1/email/change', signedIn, oncePerKey, async (ctx) => {
    const input = parseInput(startBody, ctx.request.body);
    const change = await service.start(ctx.state.user!, input.email, input.auth, { ip: ctx.ip, userAgent: ctx.get('User-Agent') || undefined });
    ctx.status = 202;
    ctx.body = change;
  });

  router.get('/v1/email/change', signedIn, async (ctx) => {
    ctx.body = await service.status(ctx.state.user!.id);
  });

  router.post('/v1/email/change/resend', signedIn, oncePerKey, async (ctx) => {
    parseInput(z.strictObject({}), ctx.request.body);
    ctx.body = { change: await service.resend(ctx.state.user!.id) };
  });

  router.delete('/v1/email/change', signedIn, async (ctx) => {
    ctx.body = { change: await service.cancel(ctx.state.user!.id) };
  });

  router.post('/v1/email/verify', async (ctx) => {
    const { token } = parseInput(verifyBody, ctx.request.body);
    ctx.body = await service.verify(token);
  });

  return router;
}
