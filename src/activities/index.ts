import type pg from 'pg';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { MailTransport } from '../mail/transport';

export interface ActivityDeps {
  config: Config;
  pool: pg.Pool;
  mail: MailTransport;
  log: Logger;
}

/** All I/O the workflows need, bound to injected dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    async checkDatabase(): Promise<string> {
      const { rows } = await deps.pool.query<{ now: Date }>('SELECT now() AS now');
      return rows[0]!.now.toISOString();
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
