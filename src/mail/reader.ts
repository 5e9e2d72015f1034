import type { Localizer } from '../i18n';
import type { Reader } from './templates';

/** The user's columns a mail's language comes from (read with the send's claim, src/activities/send-once.ts). */
export interface ReaderFacts {
  locale: string | null;
  timeZone: string | null;
}

/** The language and time zone of a user's mail: their stored locale (issue #15), else English and UTC. */
export const readerFrom = (localizer: Localizer, facts: ReaderFacts | undefined): Reader => ({ lng: localizer.pick(facts?.locale), timeZone: facts?.timeZone ?? null });
