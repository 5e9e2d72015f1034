import type pg from 'pg';
import type { Logger } from '../log';

/** How often each API process deletes expired events (harmless when several do it at once). */
export const PRUNE_INTERVAL_MS = 60 * 60_000;

/**
 * Deletes change_events older than `retentionMs`, delivered or not (EVENTS_RETENTION is longer than
 * WEBHOOK_GIVE_UP). By id, so the work is proportional to what is deleted: ids grow with time.
 */
export async function pruneEvents(pool: pg.Pool, retentionMs: number): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM change_events WHERE id < coalesce(
       (SELECT min(id) FROM change_events WHERE created_at >= now() - $1 * interval '1 millisecond'),
       (SELECT max(id) + 1 FROM change_events))`,
    [retentionMs],
  );
  return rowCount ?? 0;
}

export function startPruning(pool: pg.Pool, retentionMs: number, log: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    pruneEvents(pool, retentionMs).then(
      (deleted) => deleted > 0 && log.info({ deleted }, 'expired change events deleted'),
      (err: Error) => log.warn({ err: err.message }, 'deleting expired change events failed'),
    );
  }, PRUNE_INTERVAL_MS);
  timer.unref();
  return timer;
}
