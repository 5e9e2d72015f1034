import Router from '@koa/router';
import type { Accounts } from '../../accounts/accounts';
import { clientKey } from '../../auth/client-key';
import type { RateLimits } from '../../auth/rate-limits';
import type { SignIn } from '../../auth/sign-in';
import { parseInput, requireUser, type AppState } from '../middleware';
import { newUserBody, preferencesBody, signInBody } from '../schemas';
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

  const profileOf = async (userId: string) => {
    const [profile, pending, preferences] = await Promise.all([accounts.profile(userId), pendingChange(userId), accounts.preferences(userId)]);
    return { ...profile, pendingChange: pending && withReasonCode(pending), ...preferences };
  };

  router.get('/v1/me', requireUser(accounts), async (ctx) => {
    ctx.body = await profileOf(ctx.state.user!.id);
  });

  // Issue #15: the language and time zone of the account's pages and mail.
  router.patch('/v1/me', requireUser(accounts), async (ctx) => {
    const changes = parseInput(preferencesBody, ctx.request.body);
    await accounts.setPreferences(ctx.state.user!.id, changes);
    ctx.body = await profileOf(ctx.state.user!.id);
  });

  return router;
}
