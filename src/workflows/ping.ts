import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { checkDatabase } = proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 } });

/** Placeholder until the email-change workflow lands: proves the worker polls workflows and activities. */
export async function ping(name: string): Promise<string> {
  const now = await checkDatabase();
  return `pong ${name} at ${now}`;
}
