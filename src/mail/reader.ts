import type pg from 'pg';
import type { Localizer } from '../i18n';
import type { Reader } from './templates';

/** The language and time zone of a user's mail: their stored locale (issue #15), else English and UTC. */
export async function readerOf(pool: pg.Pool, localizer: Localizer, userId: string): Promise<Reader> {
  const { rows } = await pool.query<{ locale: string | null; timeZone: string | null }>('SELECT locale, time_zone AS "timeZone" FROM users WHERE id = $1', [userId]);
  return { lng: localizer.pick(rows[0]?.locale), timeZone: rows[0]?.timeZone ?? null };
}
