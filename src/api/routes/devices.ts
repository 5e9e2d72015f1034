import Router from '@koa/router';
import { z } from 'zod';
import type { Accounts } from '../../accounts/accounts';
import { parsePublicKey, type Devices } from '../../accounts/devices';
import type { ReauthGuard } from '../../accounts/lockout';
import { verifyPassword } from '../../accounts/passwords';
import { parseInput, requireUser, type AppState } from '../middleware';

const uuid = z.uuid({ error: 'must be an id' });
const registerBody = z.strictObject({
  name: z.string({ error: 'must be a string' }).trim().min(1).max(100).regex(/^[^\p{Cc}]+$/u, 'may not contain control characters'),
  publicKey: z.record(z.string(), z.unknown(), { error: 'must be a JWK object' }),
  password: z.string({ error: 'must be a string' }).min(1).max(256),
});

/** R-AUTH biometric: device keys and challenges. Registering a key needs the password (a counted try). */
export function deviceRoutes(accounts: Accounts, devices: Devices, guard: ReauthGuard): Router<AppState> {
  const router = new Router<AppState>();
  const signedIn = requireUser(accounts);

  router.post('/v1/devices', signedIn, async (ctx) => {
    const input = parseInput(registerBody, ctx.request.body);
    const publicKey = parsePublicKey(input.publicKey);
    const userId = ctx.state.user!.id;
    const hash = await accounts.passwordHash(userId);
    await guard.attempt(userId, () => verifyPassword(hash, input.password));
    ctx.status = 201;
    ctx.body = await devices.register(userId, input.name, publicKey);
  });

  router.get('/v1/devices', signedIn, async (ctx) => {
    ctx.body = { devices: await devices.list(ctx.state.user!.id) };
  });

  router.delete('/v1/devices/:id', signedIn, async (ctx) => {
    await devices.revoke(ctx.state.user!.id, parseInput(uuid, ctx.params.id));
    ctx.status = 204;
  });

  router.post('/v1/auth/challenges', signedIn, async (ctx) => {
    const { deviceId } = parseInput(z.strictObject({ deviceId: uuid }), ctx.request.body);
    ctx.status = 201;
    ctx.body = await devices.challenge(ctx.state.user!.id, deviceId);
  });

  return router;
}
