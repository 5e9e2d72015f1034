import Router from '@koa/router';
import { z } from 'zod';
import { emailField } from '../../email-address';
import type { Accounts } from '../../accounts/accounts';
import { clientKey } from '../../auth/client-key';
import type { RateLimits } from '../../auth/rate-limits';
import type { SignIn } from '../../auth/sign-in';
import { parseInput, requireUser, type AppState } from '../middleware';

const username = z
  .string({ error: 'must be a string' })
  .min(3, 'must be at least 3 characters')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may contain only letters, digits, dot, dash and underscore');
// The upper bound keeps argon2 input small; the lower bound is NIST 800-63B's minimum.
const password = z.string({ error: 'must be a string' }).min(8, 'must be at least 8 characters').max(256, 'must be at most 256 characters');

const newUser = z.strictObject({ username, password, email: emailField.optional() });
// Control characters (NUL above all, which PostgreSQL refuses in text) cannot be in any username: 400, not a lookup.
const signIn = z.strictObject({
  username: z.string({ error: 'must be a string' }).max(64).regex(/^[^\p{Cc}]*$/u, 'may not contain control characters'),
  password: z.string({ error: 'must be a string' }).max(256),
});

/** R-ME: sign-up, sign-in, profile. */
export function accountRoutes(
  accounts: Accounts,
  sessions: SignIn,
  limits: RateLimits,
  pendingChange: (userId: string) => Promise<unknown>,
): Router<AppState> {
  const router = new Router<AppState>();

  router.post('/v1/users', async (ctx) => {
    const input = parseInput(newUser, ctx.request.body);
    await limits.consume('signUpPerClient', clientKey(ctx.ip));
    const user = await accounts.createUser(input);
    ctx.status = 201;
    ctx.body = { id: user.id, username: user.username, email: user.email, emailVerified: user.emailVerified };
  });

  router.post('/v1/sessions', async (ctx) => {
    const input = parseInput(signIn, ctx.request.body);
    ctx.status = 201;
    ctx.body = await sessions.signIn(input.username, input.password, clientKey(ctx.ip));
  });

  router.get('/v1/me', requireUser(accounts), async (ctx) => {
    const userId = ctx.state.user!.id;
    const [profile, pending] = await Promise.all([accounts.profile(userId), pendingChange(userId)]);
    ctx.body = { ...profile, pendingChange: pending };
  });

  return router;
}
