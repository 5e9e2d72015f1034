import { describe, expect, it } from 'vitest';
import { instrumentActivities } from '../../src/observability/activity-metrics';
import { workerMetrics } from '../../src/observability/worker-metrics';
import { createLogger } from '../../src/log';
import type { SendOutcome } from '../../src/workflows/messages';

const mails = async (result: string) => (await workerMetrics.mails.get()).values.find((v) => v.labels.kind === 'verification' && v.labels.result === result)?.value ?? 0;

describe('mail metrics of the batched first mails (issue #12, shape 4)', () => {
  it('count one delivery per mail by its own outcome, though the activity itself completed', async () => {
    const before = { sent: await mails('sent'), temporary: await mails('failed_temporary'), permanent: await mails('failed_permanent') };
    const outcomes: SendOutcome[] = [{ sentAt: new Date().toISOString() }, { error: 'SMTP 421 error', nonRetryable: false }, { error: 'SMTP 550 error', nonRetryable: true }];
    const activities = instrumentActivities({ sendVerificationMails: async () => outcomes }, createLogger('silent'));
    await expect(activities.sendVerificationMails()).resolves.toEqual(outcomes);
    expect({ sent: await mails('sent'), temporary: await mails('failed_temporary'), permanent: await mails('failed_permanent') }).toEqual({
      sent: before.sent + 1,
      temporary: before.temporary + 1,
      permanent: before.permanent + 1,
    });
  });
});
