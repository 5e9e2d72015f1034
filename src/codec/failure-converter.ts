/**
 * Failure messages and stack traces go into the encoded attributes, so the payload codec encrypts
 * them like any payload (an error message may name an address). Loaded by path: the workflow
 * sandbox builds its own copy (bundleWorkflowCode's failureConverterPath), and the SDK require()s
 * it in the worker and clients. That plain require() also runs under vitest, where nothing teaches
 * Node TypeScript, so this file is written as CommonJS that is valid JavaScript as it stands.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DefaultFailureConverter } = require('@temporalio/common');

module.exports = { failureConverter: new DefaultFailureConverter({ encodeCommonAttributes: true }) };
