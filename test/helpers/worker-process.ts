/**
 * The email-change worker as its own process, for the fault suite: like src/worker.ts run(), but with
 * the test run's pre-built workflow bundle (WORKFLOW_BUNDLE_PATH) and no migrations (the run did
 * them), so a test can start it, SIGKILL it mid-work and start another. Prints WORKER_RUNNING once
 * it polls. Configuration comes from the environment, parsed by src/config.ts.
 */
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { createMailTransport } from '../../src/mail/transport';
import { createWorker } from '../../src/worker';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.databaseUrl || !config.temporal.address || !config.smtpUrl) throw new Error('DATABASE_URL, TEMPORAL_ADDRESS and SMTP_URL are required');
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const log = createLogger(config.logLevel, { service: 'fault-worker', pid: process.pid });
  const pool = createPool(config.databaseUrl, config.databasePoolSize, log);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  const mail = createMailTransport(config.smtpUrl, { allowInsecure: config.smtpAllowInsecure, smtpUtf8: config.smtpUtf8 });
  const worker = await createWorker(
    connection,
    { config, pool, mail, log },
    bundlePath ? { workflowBundle: { codePath: bundlePath } } : undefined,
  );
  const running = worker.run();
  process.stdout.write(`WORKER_RUNNING pid=${process.pid} taskQueue=${config.temporal.taskQueue}\n`);
  const stop = () => worker.getState() === 'RUNNING' && worker.shutdown();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    await running;
  } finally {
    mail.close();
    await connection.close();
    await pool.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
