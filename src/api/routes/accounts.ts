import Router from '@koa/router';
import type { Accounts } from '../../accounts/accounts';
import { clientKey } from '../../auth/client-key';
import type { RateLimits } from '../../auth/rate-limits';
import type { SignIn } from '../../auth/sign-in';
import { parseInput, requireUser, type AppState } from '../middleware';
import { newUserBody, signInBody } from '../schemas';
import { withReasonCode } from '../../email-change/errors';
import type { ChangeStatus } from '../../workflows/messages';

/** R-ME: sign-up, sign-in, profile. */
export function accountRoutes(
  accounts: Accounts,
  sessions: SignIn,
  limits: RateLimits,
  pendingChange: (userId: string) => Promise<ChangeStatus | null>,
): Router<AppState> {
  const router = new Router<AppState>();

  router.post('/v1/users', async (ctx) => {
    const input = parseInput(newUserBody, ctx.request.body);
    await limits.consume('signUpPerClient', clientKey(ctx.ip));
    const user = await accounts.createUser(input);
    ctx.status = 201;
    ctx.body = { id: user.id, username: user.username, email: user.email, emailVerified: user.emailVerified };
  });

  router.post('/v1/sessions', async (ctx) => {
    const input = parseInput(signInBody, ctx.request.body);
    ctx.status = 201;
    ctx.body = await sessions.signIn(input.username, input.password, clientKey(ctx.ip));
  });

  router.get('/v1/me', requireUser(accounts), async (ctx) => {
    const userId = ctx.state.user!.id;
    const [profile, pending] = await Promise.all([accounts.profile(userId), pendingChange(userId)]);
    ctx.body = { ...profile, pendingChange: pending && withReasonCode(pending) };
  });

  return router;
}
