import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Custom search attributes an operator filters on in the Temporal UI. They are stored
 * unencrypted, so they hold ids and states only: never an email address or a token.
 */
export const SEARCH_ATTRIBUTES = {
  userId: { name: 'EmailChangeUserId', key: defineSearchAttributeKey('EmailChangeUserId', 'KEYWORD') },
  state: { name: 'EmailChangeState', key: defineSearchAttributeKey('EmailChangeState', 'KEYWORD') },
} as const;
