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

/** Per run: the fresh links being made and mailed (a resend's or the reminder's) until their mails are scheduled. */
const making = new WeakMap<ChangeState, Promise<void>>();

/** The fresh links a resend or the reminder is still making (shape 4), for another one begun meanwhile to join. */
export function linksInFlight(s: ChangeState): Promise<void> | undefined {
  const inFlight = making.get(s);
  return inFlight && patched(JOIN_LINKS_IN_FLIGHT) ? inFlight : undefined;
}

/** Makes fresh links with `make`, which others begun meanwhile may join. */
export async function makeLinks(s: ChangeState, make: () => Promise<void>): Promise<void> {
  const links = make();
  making.set(s, links);
  try {
    await links;
  } finally {
    if (making.get(s) === links) making.delete(s);
  }
}
