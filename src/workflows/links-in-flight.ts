import { patched } from '@temporalio/workflow';
import type { ChangeState } from './state';

/**
 * A resend and the reminder (or two resends) in one workflow task: the second joins the fresh links
 * the first is making instead of making its own, which would leave the first's stale before they
 * are mailed and mail both (and, their local activities resolving in other tasks on replay than they
 * did live, replay differently). Only a run that meets this records the marker; one that met it
 * before the patch replays as it ran.
 */
export const JOIN_LINKS_IN_FLIGHT = 'join-links-in-flight';

/** The fresh links a resend or the reminder is still making (shape 4), for another one begun meanwhile to join. */
export const linksInFlight = (s: ChangeState): Promise<void> | undefined => (s.issuing && patched(JOIN_LINKS_IN_FLIGHT) ? s.issuing : undefined);
