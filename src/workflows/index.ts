// Everything the worker bundles: workflow functions only (deterministic code).
export { ping } from './ping';
