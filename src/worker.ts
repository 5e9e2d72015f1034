import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { createPool } from './db/pool';
import { migrate } from './db/migrate';
import { createLogger } from './log';
import { installTemporalRuntime } from './temporal-runtime';
import { createMailTransport } from './mail/transport';
import { exitOnConfigError } from './entry';

/** A worker for the email-change task queue; the caller runs and shuts it down. */
export async function createWorker(
  connection: NativeConnection,
  deps: ActivityDeps,
  bundle: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = { workflowsPath: require.resolve('./workflows') },
): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: deps.config.temporal.namespace,
    taskQueue: deps.config.temporal.taskQueue,
    activities: createActivities({ temporal: new Client({ connection, namespace: deps.config.temporal.namespace }), ...deps }),
    ...bundle,
    shutdownGraceTime: '10s',
    shutdownForceTime: '30s',
  });
}

async function run(): Promise<void> {
  const config = exitOnConfigError();
  const log = createLogger(config.logLevel, { service: 'worker' });
  installTemporalRuntime(log);
  if (!config.databaseUrl || !config.temporal.address || !config.smtpUrl) {
    throw new Error('the worker needs DATABASE_URL, TEMPORAL_ADDRESS and SMTP_URL (or run `npm start` for the embedded stack)');
  }
  await migrate(config.databaseUrl, log);
  const pool = createPool(config.databaseUrl, config.databasePoolSize, log);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const mail = createMailTransport(config.smtpUrl, { allowInsecure: config.smtpAllowInsecure });
  try {
    const worker = await createWorker(connection, { config, pool, mail, log });
    log.info({ taskQueue: config.temporal.taskQueue }, 'worker polling');
    await worker.run(); // returns after SIGINT/SIGTERM once in-flight tasks finish
  } finally {
    mail.close();
    await connection.close();
    await pool.end();
  }
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
