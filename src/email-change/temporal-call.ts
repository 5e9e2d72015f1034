import type { Client } from '@temporalio/client';
import { unavailable } from '../api/errors';
import { isTemporalUnavailable } from '../api/middleware';
import { within } from '../timeout';

/**
 * A call to Temporal bounded twice: the gRPC deadline, and a timer (a connection attempt is not
 * bound by the deadline). Out of reach or too slow is a 503 `UNAVAILABLE`; anything else is the caller's.
 */
export async function callTemporal<T>(temporal: Client, ms: number, call: () => Promise<T>): Promise<T> {
  try {
    return await within(ms + 500, temporal.connection.withDeadline(Date.now() + ms, call), () => unavailable('The workflow service'));
  } catch (err) {
    if (isTemporalUnavailable(err)) throw unavailable('The workflow service');
    throw err;
  }
}
