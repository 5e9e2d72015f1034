// Everything the worker bundles: workflow functions only (deterministic code).
export { emailChange } from './email-change';
