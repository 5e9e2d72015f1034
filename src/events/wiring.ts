import type Koa from 'koa';
import type pg from 'pg';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { EmailChangeService } from '../email-change/service';
import { withReasonCode } from '../email-change/errors';
import { EventHub } from './hub';
import { EventStreams } from './streams';
import { startPruning } from './retention';

/**
 * The API process's status streams: one LISTEN connection (opened with the first stream), the
 * status as `GET /v1/email/change` answers it, and every stream ended when the server shuts down
 * (src/api/server.ts emits `shutdown` on the app; an open stream would otherwise hold it up); events
 * older than EVENTS_RETENTION deleted hourly.
 */
export function liveStatusStreams(app: Koa, deps: { config: Config; pool: pg.Pool; log: Logger }, service: EmailChangeService): EventStreams {
  const hub = new EventHub((deps.pool as unknown as { options: pg.ClientConfig }).options, deps.log);
  const streams = new EventStreams(
    hub,
    deps.pool,
    async (userId) => {
      const { change, lock } = await service.status(userId);
      return { change: change && withReasonCode(change), lock };
    },
    deps.config.streams,
    deps.log,
  );
  const pruning = startPruning(deps.pool, deps.config.streams.retentionMs, deps.log);
  app.once('shutdown', () => {
    clearInterval(pruning);
    streams.closeAll();
  });
  return streams;
}
