import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startTemporalDevServer } from '../src/dev/temporal';
import { startEmbeddedPostgres } from '../src/dev/postgres';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/log';
import { bundleWorkflows } from '../src/worker';


/**
 * One real Temporal dev server (the same resolver as `npm start`) and one real PostgreSQL
 * (DATABASE_URL if set, else embedded) for the whole run; each test file starts its own
 * SMTP server, worker and API against them.
 */
export default async function setup(project: TestProject) {
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'email-change-test-'));
  fs.chmodSync(tempDir, 0o755);
  const log = createLogger('warn', { service: 'test-setup' });
  const [temporal, postgres, bundle] = await Promise.all([
    startTemporalDevServer({ cliPath: process.env.TEMPORAL_CLI_PATH }),
    process.env.DATABASE_URL ? undefined : startEmbeddedPostgres(path.join(tempDir, 'postgres'), { persistent: false }),
    // With the failure converter that encrypts failure messages (a bundle built without it would not).
    bundleWorkflows({ ...console, trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined } as never),
  ]);
  const databaseUrl = process.env.DATABASE_URL ?? postgres!.localUrl;
  await migrate(databaseUrl, log);
  const workflowBundlePath = path.join(tempDir, 'workflow-bundle.js');
  fs.writeFileSync(workflowBundlePath, bundle.code);

  project.provide('temporalAddress', temporal.address);
  project.provide('databaseUrl', databaseUrl);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('tempDir', tempDir);

  return async () => {
    await Promise.allSettled([temporal.stop(), postgres?.stop()]);
    fs.rmSync(tempDir, { recursive: true, force: true });
  };
}
