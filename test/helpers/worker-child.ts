// A worker in a process of its own, so a test can SIGKILL it. Configured from the environment
// like src/worker.ts, with the test run's pre-built workflow bundle (WORKFLOW_BUNDLE).
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { createWorker } from '../../src/worker';

async function run() {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const config = loadConfig(process.env);
  const log = createLogger('silent');
  const pool = createPool(config.databaseUrl!, 5, log);
  const connection = await NativeConnection.connect({ address: config.temporal.address! });
  const worker = await createWorker(
    connection,
    { config, pool, mail: createMailTransport(config.smtpUrl!), log },
    { workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE! } },
  );
  const running = worker.run();
  process.stdout.write('WORKER READY\n');
  await running;
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
