import type { Client } from '@temporalio/client';
import type { EmailChangePolicy } from '../../src/config';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { workflowIdFor, type EmailChangeInput } from '../../src/workflows/messages';

/**
 * The input POST /v1/email/change gives a run (an UPDATE when `oldEmail` is the user's verified
 * address), for tests that start runs straight through Temporal. `shape` omitted: a run as started
 * before shapes existed.
 */
export function changeInput(args: {
  changeId: string;
  userId: string;
  newEmail: string;
  oldEmail?: string;
  policy: EmailChangePolicy;
  requestedAt?: number;
  shape?: EmailChangeInput['shape'];
  verificationCode?: EmailChangeInput['verificationCode'];
}): EmailChangeInput {
  return {
    changeId: args.changeId,
    userId: args.userId,
    kind: args.oldEmail ? 'UPDATE' : 'ADD',
    newEmail: args.newEmail,
    newEmailNormalized: args.newEmail.toLowerCase(),
    oldEmail: args.oldEmail ?? null,
    oldEmailVerified: Boolean(args.oldEmail),
    confirmOld: Boolean(args.oldEmail) && args.policy.confirmOldEmail,
    requestedAt: args.requestedAt ?? Date.now(),
    requestedBy: { method: 'password' },
    policy: args.policy,
    ...(args.shape !== undefined ? { shape: args.shape } : {}),
    ...(args.verificationCode ? { verificationCode: args.verificationCode } : {}),
  };
}

/** Starts the user's run as the API does: its workflow id and both search attributes. */
export function startChangeRun(client: Client, taskQueue: string, input: EmailChangeInput) {
  return client.workflow.start('emailChange', {
    taskQueue,
    workflowId: workflowIdFor(input.userId),
    args: [input],
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.userId.key, value: input.userId },
      { key: SEARCH_ATTRIBUTES.state.key, value: 'REQUESTED' },
    ],
  });
}
