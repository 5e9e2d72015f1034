import type pg from 'pg';
import type { Localizer } from '../i18n';
import type { Reader } from './templates';

/** The language and time zone of a user's mail: their stored locale (issue #15), else English and UTC. */
export async function readerOf(pool: pg.Pool, localizer: Localizer, userId: string): Promise<Reader> {
  const { rows } = await pool.query<ReaderFacts>('SELECT locale, time_zone AS "timeZone" FROM users WHERE id = $1', [userId]);
  return readerFrom(localizer, rows[0]);
}

/** The user's columns readerOf reads, for a caller that reads them with its own query. */
export interface ReaderFacts {
  locale: string | null;
  timeZone: string | null;
}

export const readerFrom = (localizer: Localizer, facts: ReaderFacts | undefined): Reader => ({ lng: localizer.pick(facts?.locale), timeZone: facts?.timeZone ?? null });
