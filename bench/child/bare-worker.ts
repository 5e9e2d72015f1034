import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { installTemporalRuntime } from '../../src/temporal-runtime';
import { createLogger } from '../../src/log';
import { createBareActivities } from '../workflows/bare-activities';

/**
 * The engine-bound worker: bench/workflows/bare-email-change.ts with no-op activities, on its own
 * task queue, with the same Worker options as src/worker.ts's createWorker (all SDK defaults).
 * Each "mail" is reported to the bench over IPC. Ends on SIGTERM/SIGINT once in-flight tasks finish.
 * No payload codec (the product's worker has one): its payloads are synthetic, and the engine bound
 * is what Temporal does without the service's own CPU.
 */
export async function createBareWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  onMail: (mail: { changeId: string; userId: string; tokenHash: string }) => void;
  workflowBundlePath?: string;
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createBareActivities(opts.onMail),
    ...(opts.workflowBundlePath
      ? { workflowBundle: { codePath: opts.workflowBundlePath } }
      : { workflowsPath: path.resolve(__dirname, '../workflows/bare-email-change.ts') }),
    shutdownGraceTime: '10s',
    shutdownForceTime: '30s',
  });
}

async function run(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS;
  const taskQueue = process.env.TASK_QUEUE;
  if (!address || !taskQueue) throw new Error('the bare worker needs TEMPORAL_ADDRESS and TASK_QUEUE');
  installTemporalRuntime(createLogger(process.env.LOG_LEVEL ?? 'warn', { service: 'bare-worker' }));
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await createBareWorker({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue,
      onMail: (mail) => process.send?.({ type: 'bare-mail', ...mail }),
    });
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
