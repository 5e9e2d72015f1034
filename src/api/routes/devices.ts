import Router from '@koa/router';
import type { Accounts } from '../../accounts/accounts';
import { parsePublicKey, type Devices } from '../../accounts/devices';
import type { Reauthentication } from '../../accounts/reauth';
import { parseInput, requireUser, type AppState } from '../middleware';
import { challengeBody, deviceIdParams, registerDeviceBody } from '../schemas';

/** R-AUTH biometric: device keys and challenges. Registering a key needs the password or another proof (a counted try). */
export function deviceRoutes(accounts: Accounts, devices: Devices, reauth: Reauthentication): Router<AppState> {
  const router = new Router<AppState>();
  const signedIn = requireUser(accounts);

  router.post('/v1/devices', signedIn, async (ctx) => {
    const input = parseInput(registerDeviceBody, ctx.request.body);
    const publicKey = parsePublicKey(input.publicKey);
    const userId = ctx.state.user!.id;
    // Issue #14: an account without a password (the identity provider's user) sends `auth`, e.g. an ID token.
    await reauth.verify(userId, input.auth ?? { method: 'password', password: input.password! });
    ctx.status = 201;
    ctx.body = await devices.register(userId, input.name, publicKey);
  });

  router.get('/v1/devices', signedIn, async (ctx) => {
    ctx.body = { devices: await devices.list(ctx.state.user!.id) };
  });

  router.delete('/v1/devices/:id', signedIn, async (ctx) => {
    await devices.revoke(ctx.state.user!.id, parseInput(deviceIdParams, ctx.params, 'params').id);
    ctx.status = 204;
  });

  router.post('/v1/auth/challenges', signedIn, async (ctx) => {
    const { deviceId } = parseInput(challengeBody, ctx.request.body);
    ctx.status = 201;
    ctx.body = await devices.challenge(ctx.state.user!.id, deviceId);
  });

  return router;
}
