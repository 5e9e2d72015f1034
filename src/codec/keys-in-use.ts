import type { Client } from '@temporalio/client';
import { keyIdOf } from './encryption-codec';
import { payloadsIn } from './history-payloads';

const CLOSED = [
  'workflowExecutionCompletedEventAttributes',
  'workflowExecutionFailedEventAttributes',
  'workflowExecutionTimedOutEventAttributes',
  'workflowExecutionCanceledEventAttributes',
  'workflowExecutionTerminatedEventAttributes',
  'workflowExecutionContinuedAsNewEventAttributes',
] as const;

/**
 * For each payload key id, how many open runs of the namespace hold a payload encrypted with it
 * (a run needs every such key to go on). Reads only the `encryption-key-id` metadata: `client`
 * needs no codec and nothing is decrypted.
 */
export async function keysInUse(client: Client): Promise<Map<string, number>> {
  const runs = new Map<string, number>();
  for await (const run of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    // The list is eventually consistent: a run that closed meanwhile needs no key any more.
    if (history.events?.some((e) => CLOSED.some((attr) => e[attr] != null))) continue;
    const ids = new Set(payloadsIn(history).map(({ payload }) => keyIdOf(payload)));
    for (const id of ids) if (id !== undefined) runs.set(id, (runs.get(id) ?? 0) + 1);
  }
  return runs;
}
