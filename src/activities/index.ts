import type pg from 'pg';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { MailTransport } from '../mail/transport';
import { createEmailChangeActivities } from './email-change';
import { createWebhookActivities } from './webhooks';
import { createRevertActivities } from './revert';

export interface ActivityDeps {
  config: Config;
  pool: pg.Pool;
  mail: MailTransport;
  log: Logger;
  /** Asks Temporal which run of a workflow is current (createWorker fills it from the worker's connection). */
  temporal?: Client;
}

/** All I/O the workflows need, bound to injected dependencies. */
export function createActivities(deps: ActivityDeps) {
  return { ...createEmailChangeActivities(deps), ...createWebhookActivities(deps), ...createRevertActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
