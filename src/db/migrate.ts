import path from 'node:path';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../log';

const MIGRATIONS_DIR = path.resolve(__dirname, '../../migrations');

/** Applies pending migrations; safe when several processes start at once (they wait on an advisory lock). */
export async function migrate(databaseUrl: string, log: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    advisoryLockMode: 'wait',
    singleTransaction: true,
    logger: { debug: () => undefined, info: () => undefined, warn: (m) => log.warn(m), error: (m) => log.error(m) },
  });
  const names = applied.map((m) => m.name);
  if (names.length > 0) log.info({ migrations: names }, 'applied migrations');
  return names;
}
