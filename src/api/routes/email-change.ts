import Router from '@koa/router';
import { parseEmailAddress } from '../../email-address';
import type { Accounts } from '../../accounts/accounts';
import { clientKey } from '../../auth/client-key';
import type { RateLimits } from '../../auth/rate-limits';
import type { EmailChangeService } from '../../email-change/service';
import { parseInput, requireUser, type AppState } from '../middleware';
import { availabilityQuery, emptyBody, startChangeBody, verifyBody } from '../schemas';
import { withReasonCode } from '../../email-change/errors';
import { fingerprintKey, idempotent } from '../idempotency';
import type pg from 'pg';

/** The JSON API of the email change flow (R-AVAIL, R-START, R-STATUS, R-RESEND, R-CANCEL, R-VERIFY). */
export function emailChangeRoutes(accounts: Accounts, service: EmailChangeService, pool: pg.Pool, tokenSecret: string, limits: RateLimits): Router<AppState> {
  const router = new Router<AppState>();
  const signedIn = requireUser(accounts);
  // Keyed by the current token key: a retry that straddles a key rotation gets 422, never a second effect.
  const oncePerKey = idempotent(pool, fingerprintKey(tokenSecret));

  router.get(
    '/v1/email/availability',
    signedIn,
    async (ctx) => {
      await limits.consume('availabilityPerUser', ctx.state.user!.id);
      await limits.consume('availabilityPerClient', clientKey(ctx.ip));
      const { email } = parseInput(availabilityQuery, ctx.query, 'query');
      ctx.body = await service.availability(ctx.state.user!, parseEmailAddress(email), email);
    },
  );

  router.post('/v1/email/change', signedIn, oncePerKey, async (ctx) => {
    const input = parseInput(startChangeBody, ctx.request.body);
    const sessionId = ctx.state.sessionId; // issue #15: the session a change keeps (read with the user: issue #12)
    const change = await service.start(ctx.state.user!, input.email, input.auth, { ip: ctx.ip, userAgent: ctx.get('User-Agent') || undefined, sessionId, idempotency: ctx.state.idempotency });
    ctx.status = 202;
    ctx.body = { change: withReasonCode(change.change), lock: change.lock };
  });

  router.get('/v1/email/change', signedIn, async (ctx) => {
    const { change, lock } = await service.status(ctx.state.user!.id);
    ctx.body = { change: change && withReasonCode(change), lock };
  });

  router.post('/v1/email/change/resend', signedIn, oncePerKey, async (ctx) => {
    parseInput(emptyBody, ctx.request.body);
    const change = await service.resend(ctx.state.user!.id);
    // Like start: the new mail goes out asynchronously (202), and the answer says where the lock stands.
    ctx.status = 202;
    ctx.body = { change: withReasonCode(change), lock: await service.lockStatus(ctx.state.user!.id) };
  });

  router.delete('/v1/email/change', signedIn, async (ctx) => {
    ctx.body = { change: withReasonCode(await service.cancel(ctx.state.user!.id)) };
  });

  router.post('/v1/email/verify', async (ctx) => {
    const { token, code } = parseInput(verifyBody, ctx.request.body);
    if (token !== undefined) {
      ctx.body = withReasonCode(await service.verify(token));
      return;
    }
    // Issue #15 item 7: a typed code confirms an address of the signed-in user's own pending change.
    await signedIn(ctx, async () => {
      ctx.body = withReasonCode(await service.verifyCode(ctx.state.user!.id, code!));
    });
  });

  return router;
}
