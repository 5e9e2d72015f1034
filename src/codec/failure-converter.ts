import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces go into the encoded attributes, so the payload codec encrypts
 * them like any payload (an error message may name an address). Loaded by path: the workflow
 * sandbox builds its own copy (bundleWorkflowCode's failureConverterPath).
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
