import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildTemporalServer } from '../../src/dev/temporal-cluster';
import { bundleWorkflows } from '../../src/worker';

/**
 * For `npm run test:cluster`: the Temporal server binaries (built once, minutes) and the workflow
 * bundle. Each test file starts its own cluster, so it can kill and restart its processes.
 */
export default async function setup(project: TestProject) {
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'email-change-cluster-test-'));
  fs.chmodSync(tempDir, 0o755);
  await buildTemporalServer((line) => console.error(line));
  const quiet = { ...console, trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined };
  const bundle = await bundleWorkflows(quiet as never);
  const workflowBundlePath = path.join(tempDir, 'workflow-bundle.js');
  fs.writeFileSync(workflowBundlePath, bundle.code);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('tempDir', tempDir);
  return () => fs.rmSync(tempDir, { recursive: true, force: true });
}
