import type { OutgoingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import type { Accounts } from '../../accounts/accounts';
import { AppError } from '../errors';
import { requireUser, type AppState } from '../middleware';
import { SSE_HEADERS, type EventStreams } from '../../events/streams';

/**
 * Issue #14: `GET /v1/email/change/events`, the signed-in user's change as Server-Sent Events.
 * First the current status, then one `status` event whenever it changes (its data is exactly the
 * body of `GET /v1/email/change`, its id the latest change event it includes), `: heartbeat`
 * comments in between. A client that reconnects sends `Last-Event-ID`; its first event is then the
 * status as of now, which includes every event after that id.
 */
export function eventRoutes(accounts: Accounts, streams: EventStreams): Router<AppState> {
  const router = new Router<AppState>();
  const signedIn = requireUser(accounts);

  router.get('/v1/email/change/events', signedIn, async (ctx) => {
    const lastEventId = ctx.get('Last-Event-ID');
    if (lastEventId && !/^\d{1,18}$/.test(lastEventId)) {
      throw new AppError(400, 'VALIDATION_FAILED', 'Last-Event-ID must be the id of an event this stream sent', { fields: [{ path: 'headers.last-event-id', message: 'must be a whole number' }] });
    }
    const out = new PassThrough();
    await streams.attach(ctx.state.user!.id, out);
    // Written here rather than by Koa: a client going away is the normal end of a stream, not an error to report.
    ctx.status = 200;
    ctx.set(SSE_HEADERS);
    ctx.respond = false;
    ctx.res.writeHead(200, ctx.response.headers as OutgoingHttpHeaders);
    ctx.res.once('close', () => out.destroy());
    out.pipe(ctx.res);
  });

  return router;
}
