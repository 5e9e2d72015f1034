import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { dataConverter, FAILURE_CONVERTER_PATH } from './codec/data-converter';
import { createPool } from './db/pool';
import { migrate } from './db/migrate';
import { createLogger, type Logger } from './log';
import type { Config } from './config';
import { installTemporalRuntime } from './temporal-runtime';
import { createMailTransport } from './mail/transport';
import { exitOnConfigError } from './entry';
import { temporalConnectionOptions } from './temporal-connection';
import { instrumentActivities } from './observability/activity-metrics';
import { sdkMetricsAddressFor, startWorkerHealthFor, type WorkerHealth } from './observability/worker-health';
import { DISCARD_WORKFLOW_SPANS, shutdownTracing, tracingFor } from './observability/tracing';

/** src/workflows/index.ts, or .js once built (spelled out: vitest's require cannot resolve a .ts file). */
const WORKFLOWS_PATH = path.join(__dirname, 'workflows', `index${path.extname(__filename)}`);

/** The workflow interceptors (tracing, off unless a run's start carries a trace context): in every bundle. */
const WORKFLOW_INTERCEPTORS_PATH = path.join(__dirname, 'workflows', `interceptors${path.extname(__filename)}`);

/** Where `npm run build` (scripts/build-workflow-bundle.ts) writes the bundle: next to the compiled worker. */
const BUILT_BUNDLE_PATH = path.join(__dirname, 'workflow-bundle.js');

/**
 * The workflows prebuilt (tests, recording): with the failure converter that puts failure messages
 * into encrypted attributes. A bundle built without it would write failure messages in plain text.
 */
export function bundleWorkflows(logger?: Parameters<typeof bundleWorkflowCode>[0]['logger']): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: [WORKFLOW_INTERCEPTORS_PATH], failureConverterPath: FAILURE_CONVERTER_PATH, logger });
}

/**
 * A worker for the email-change task queue; the caller runs and shuts it down. Everything it
 * writes to Temporal is encrypted with config.payloadKeys; a prebuilt `workflowBundle` must come
 * from bundleWorkflows().
 */
export async function createWorker(
  connection: NativeConnection,
  deps: ActivityDeps,
  bundle: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = { workflowsPath: WORKFLOWS_PATH },
): Promise<Worker> {
  const { namespace } = deps.config.temporal;
  const converter = dataConverter(deps.config.payloadKeys);
  const tracing = tracingFor(deps.config, 'worker');
  return Worker.create({
    connection,
    namespace,
    taskQueue: deps.config.temporal.taskQueue,
    dataConverter: converter,
    activities: instrumentActivities(createActivities({ temporal: new Client({ connection, namespace, dataConverter: converter }), ...deps }), deps.log),
    ...bundle,
    interceptors: { activity: tracing?.activityInterceptors ?? [], ...(bundle.workflowsPath ? { workflowModules: [WORKFLOW_INTERCEPTORS_PATH] } : {}) },
    sinks: tracing?.workflowSinks ?? DISCARD_WORKFLOW_SPANS,
    shutdownGraceTime: '10s',
    shutdownForceTime: '30s',
  });
}

async function run(): Promise<void> {
  const config = exitOnConfigError();
  const log = createLogger(config.logLevel, { service: 'worker' });
  const sdkMetricsAddress = await sdkMetricsAddressFor(config);
  installTemporalRuntime(log, { sdkMetricsAddress });
  if (!config.databaseUrl || !config.temporal.address || !config.smtpUrl) {
    throw new Error('the worker needs DATABASE_URL, TEMPORAL_ADDRESS and SMTP_URL (or run `npm start` for the embedded stack)');
  }
  await migrate(config.databaseUrl, log);
  const pool = createPool(config.databaseUrl, config.databasePoolSize, log);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const mail = createMailTransport(config.smtpUrl, { allowInsecure: config.smtpAllowInsecure, smtpUtf8: config.smtpUtf8 });
  let health: WorkerHealth | undefined;
  try {
    const worker = await createWorker(connection, { config, pool, mail, log }, workflowCodeFor(config, log));
    health = await startWorkerHealthFor(config, worker, sdkMetricsAddress); // /readyz says 200 only while polling
    log.info({ taskQueue: config.temporal.taskQueue }, 'worker polling');
    await worker.run(); // returns after SIGINT/SIGTERM once in-flight tasks finish
  } finally {
    await health?.close();
    mail.close();
    await connection.close();
    await pool.end();
    await shutdownTracing();
  }
}

/**
 * The workflow code a worker process runs: the prebuilt bundle (WORKFLOW_BUNDLE, else the one next to
 * this file), so every worker of a release runs the exact code the replay gate checked. Bundling
 * from source at start-up is for development only.
 */
function workflowCodeFor(config: Config, log: Logger): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const codePath = config.workflowBundle ? path.resolve(config.workflowBundle) : fs.existsSync(BUILT_BUNDLE_PATH) ? BUILT_BUNDLE_PATH : undefined;
  if (codePath) {
    if (!fs.existsSync(codePath)) throw new Error(`WORKFLOW_BUNDLE: no file at ${codePath} (\`npm run build\` writes dist/workflow-bundle.js)`);
    log.info({ workflowBundle: codePath }, 'workflows from the prebuilt bundle');
    return { workflowBundle: { codePath } };
  }
  if (config.nodeEnv === 'production') throw new Error(`no prebuilt workflow bundle at ${BUILT_BUNDLE_PATH}: run \`npm run build\` or set WORKFLOW_BUNDLE`);
  log.warn({ workflowsPath: WORKFLOWS_PATH }, 'no prebuilt workflow bundle: bundling the workflows from source at start-up (development only; `npm run build` writes one)');
  return { workflowsPath: WORKFLOWS_PATH };
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
