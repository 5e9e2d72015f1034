import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Logger } from '../log';
import { logStateChange } from './state-change-log';
import { workerMetrics } from './worker-metrics';
import type { SendOutcome } from '../workflows/messages';

type ActivityFn = (...args: any[]) => Promise<unknown>;

const MAIL_KIND: Record<string, string> = { sendVerificationMail: 'verification', sendChangedNotice: 'notice' };
/** Shape 4's batch (issue #12): one outcome per verification mail; the activity completes either way. */
const MAIL_BATCH = 'sendVerificationMails';

function countBatch(result: unknown): void {
  if (!Array.isArray(result)) return;
  for (const outcome of result as SendOutcome[]) {
    const sent = 'sentAt' in outcome;
    workerMetrics.mails.inc({ kind: 'verification', result: sent ? 'sent' : outcome.nonRetryable ? 'failed_permanent' : 'failed_temporary' });
  }
}

/** The state an activity's result records, with its ids; undefined for activities that change no state. */
function stateChange(name: string, args: any, result: any): { changeId: string; userId?: string; state: string; reason?: unknown } | undefined {
  switch (name) {
    case 'recordRequest':
    case 'startRequest': // shape 3 (issue #12): recordRequest and the first links in one step
      if (typeof result?.recorded !== 'boolean') return undefined;
      return { changeId: args.changeId, userId: args.userId, state: result.recorded ? 'REQUESTED' : 'SUPERSEDED' };
    case 'applyEmailChange':
    case 'markFinished':
      if (typeof result?.state !== 'string') return undefined;
      return { changeId: args.changeId, userId: args.userId ?? userIdOfRun(), state: result.state, reason: result.reason };
    default:
      return undefined;
  }
}

/** The user of the running activity's workflow (its id is `email-change-<user id>`). */
function userIdOfRun(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.workflowId.replace(/^email-change-/, '');
  } catch {
    return undefined; // called outside an activity
  }
}

function failureOutcome(err: unknown): 'failed_permanent' | 'failed_retryable' {
  return err instanceof ApplicationFailure && err.nonRetryable ? 'failed_permanent' : 'failed_retryable';
}

/**
 * Wraps each activity to count its attempts, mail deliveries and state changes, and to log one
 * line per state change. The activities stay as they are; their names, arguments and results too.
 */
export function instrumentActivities<A extends object>(activities: A, log: Logger): A {
  const stateLog = log.child({ component: 'email-change' });
  const wrapped = Object.entries(activities).map(([name, fn]: [string, ActivityFn]) => {
    const instrumented: ActivityFn = async (...args) => {
      const mailKind = MAIL_KIND[name];
      try {
        const result = await fn(...args);
        workerMetrics.activities.inc({ activity: name, outcome: 'completed' });
        if (mailKind) workerMetrics.mails.inc({ kind: mailKind, result: 'sent' });
        if (name === MAIL_BATCH) countBatch(result);
        const change = stateChange(name, args[0], result);
        if (change) {
          workerMetrics.stateChanges.inc({ state: change.state });
          logStateChange(stateLog, change);
        }
        return result;
      } catch (err) {
        const outcome = failureOutcome(err);
        workerMetrics.activities.inc({ activity: name, outcome });
        if (mailKind) workerMetrics.mails.inc({ kind: mailKind, result: outcome === 'failed_permanent' ? 'failed_permanent' : 'failed_temporary' });
        throw err;
      }
    };
    return [name, instrumented];
  });
  return Object.fromEntries(wrapped) as A;
}
