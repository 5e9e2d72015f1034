/**
 * Writes the worker's prebuilt workflow bundle (part of `npm run build`):
 *
 *   npx tsx scripts/build-workflow-bundle.ts [out-file]     # default dist/workflow-bundle.js
 *
 * The production worker loads this file instead of bundling src/workflows at start-up
 * (src/worker.ts run()); it is built by bundleWorkflows(), so with the failure converter the codec needs
 * and the workflow interceptors tracing needs (src/workflows/interceptors.ts, idle for untraced runs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflows } from '../src/worker';

export const DEFAULT_BUNDLE_PATH = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');

const quiet = { ...console, trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined } as never;

/** Bundles the current workflow code into `outFile` (written whole or not at all) and returns its size in bytes. */
export async function buildWorkflowBundle(outFile: string = DEFAULT_BUNDLE_PATH): Promise<number> {
  const { code } = await bundleWorkflows(quiet);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const partial = `${outFile}.${process.pid}.tmp`;
  fs.writeFileSync(partial, code);
  fs.renameSync(partial, outFile); // a worker starting meanwhile never reads half a bundle
  return Buffer.byteLength(code);
}

if (require.main === module) {
  const outFile = path.resolve(process.argv[2] ?? DEFAULT_BUNDLE_PATH);
  buildWorkflowBundle(outFile)
    .then((bytes) => console.log(`workflow bundle: ${path.relative(process.cwd(), outFile)} (${Math.round(bytes / 1024)} KiB)`))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
