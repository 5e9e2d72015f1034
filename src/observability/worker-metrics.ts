import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/**
 * The worker process's own metrics. One registry per process, like the SDK's runtime: a worker
 * process runs one worker, and activities are wrapped where createWorker builds them.
 */
export const workerRegistry = new Registry();
collectDefaultMetrics({ register: workerRegistry, prefix: 'email_change_worker_' });

export const workerMetrics = {
  /** Every activity attempt by its outcome: completed, failed_retryable (Temporal retries it), failed_permanent. */
  activities: new Counter({
    name: 'email_change_activity_attempts_total',
    help: 'Activity attempts by activity and outcome (completed, failed_retryable, failed_permanent)',
    labelNames: ['activity', 'outcome'] as const,
    registers: [workerRegistry],
  }),
  /** SMTP deliveries: sent, failed_temporary (retried), failed_permanent (5xx: the link cannot be delivered). */
  mails: new Counter({
    name: 'email_change_mails_total',
    help: 'Mail delivery attempts by kind (verification, notice) and result (sent, failed_temporary, failed_permanent)',
    labelNames: ['kind', 'result'] as const,
    registers: [workerRegistry],
  }),
  /** Request states as recorded in PostgreSQL by the activities. */
  stateChanges: new Counter({
    name: 'email_change_state_changes_total',
    help: 'Email change requests entering a state (REQUESTED, APPROVED, DECLINED, EXPIRED, CANCELLED, SUPERSEDED)',
    labelNames: ['state'] as const,
    registers: [workerRegistry],
  }),
};
