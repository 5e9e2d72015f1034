/**
 * The replay gate (issue #13): replays the histories of recent `emailChange` runs of a namespace,
 * open ones included, against the workflow code about to be deployed, and fails on any
 * nondeterminism, so a release that would break runs in flight never reaches a worker.
 *
 *   npm run build && npm run replay -- --bundle dist/workflow-bundle.js      # what the image runs
 *   npm run replay -- --since 7d --limit 200 [--namespace ns] [--query 'TaskQueue = "email-change"']
 *
 * Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE
 * (src/temporal-connection.ts). PAYLOAD_KEYS must hold every key the histories were encrypted with:
 * a history naming another key is reported as undecodable, not replayed.
 * Without --bundle the workflows are bundled from this checkout's source, as bundleWorkflows() does.
 * Exit status: 0 all replayed; 1 a run is nondeterministic, undecodable or failed to replay; 2 bad usage.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { Client, Connection, type HistoryAndWorkflowId } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { exitOnConfigError } from '../src/entry';
import { parseDuration } from '../src/duration';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { dataConverter } from '../src/codec/data-converter';
import { keyIdOf } from '../src/codec/encryption-codec';
import { payloadsIn } from '../src/codec/history-payloads';
import { bundleWorkflows } from '../src/worker';
import { DISCARD_WORKFLOW_SPANS } from '../src/observability/tracing';

const USAGE = 'usage: npm run replay -- [--since 7d] [--limit 200] [--namespace <ns>] [--bundle <workflow-bundle.js>] [--query <visibility clause>]';

interface Outcome {
  replayed: string[];
  nondeterministic: { run: string; message: string }[];
  undecodable: { run: string; message: string }[];
  failed: { run: string; message: string }[];
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        since: { type: 'string', default: '7d' },
        limit: { type: 'string', default: '200' },
        namespace: { type: 'string' },
        bundle: { type: 'string' },
        query: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    console.error(`${firstLine(err)}\n${USAGE}`);
    return 2;
  }
  if (args.help) return console.log(USAGE), 0;
  const sinceMs = parseDuration(args.since!);
  const limit = Number(args.limit);
  if (sinceMs === undefined || !Number.isInteger(limit) || limit < 1) {
    console.error(`--since takes a duration like 7d or 12h, --limit a whole number ≥ 1\n${USAGE}`);
    return 2;
  }

  const config = exitOnConfigError();
  const namespace = args.namespace ?? config.temporal.namespace;
  const keyIds = new Set(config.payloadKeys.map((k) => k.id));
  Runtime.install({ logger: new DefaultLogger('ERROR') }); // a nondeterministic run makes core log a WARN each

  // Recent runs, and every open one however old: those are the ones the new code must continue.
  const since = new Date(Date.now() - sinceMs).toISOString();
  const query = `WorkflowType = "emailChange" AND (StartTime > "${since}" OR ExecutionStatus = "Running")${args.query ? ` AND (${args.query})` : ''}`;
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const outcome: Outcome = { replayed: [], nondeterministic: [], undecodable: [], failed: [] };
  const histories: HistoryAndWorkflowId[] = [];
  try {
    const client = new Client({ connection, namespace }); // no codec: histories are fetched as stored
    for await (const run of client.workflow.list({ query })) {
      if (histories.length + outcome.undecodable.length >= limit) break;
      const name = `${run.workflowId}/${run.runId}`;
      const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const missing = [...new Set(payloadsIn(history).map(({ payload }) => keyIdOf(payload)))].filter((id) => id !== undefined && !keyIds.has(id));
      if (missing.length) outcome.undecodable.push({ run: name, message: `encrypted with payload key ${missing.join(', ')}, not in PAYLOAD_KEYS` });
      else histories.push({ workflowId: name, history });
    }
  } finally {
    await connection.close();
  }

  const code: Pick<WorkerOptions, 'workflowBundle'> = args.bundle
    ? { workflowBundle: { codePath: path.resolve(args.bundle) } }
    : { workflowBundle: await bundleWorkflows({ ...console, trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined } as never) };
  console.log(`replay gate: namespace ${namespace}, ${histories.length + outcome.undecodable.length} emailChange run(s) (started since ${since} or open, at most ${limit}), workflow code ${args.bundle ?? 'bundled from source'}`);

  if (histories.length) {
    // A traced run's workflow spans go to the sink, which replay never exports: without one, each would log an error.
    const results = Worker.runReplayHistories({ dataConverter: dataConverter(config.payloadKeys), ...code, sinks: DISCARD_WORKFLOW_SPANS, replayName: 'replay-gate' }, histories);
    for await (const { workflowId: run, error } of results) {
      if (!error) outcome.replayed.push(run);
      else if (error instanceof DeterminismViolationError) outcome.nondeterministic.push({ run, message: firstLine(error) });
      else outcome.failed.push({ run, message: firstLine(error) });
    }
  }

  for (const { run, message } of outcome.nondeterministic) console.log(`NONDETERMINISTIC ${run}: ${message}`);
  for (const { run, message } of outcome.undecodable) console.log(`UNDECODABLE ${run}: ${message}`);
  for (const { run, message } of outcome.failed) console.log(`FAILED ${run}: ${message}`);
  const bad = outcome.nondeterministic.length + outcome.undecodable.length + outcome.failed.length;
  console.log(
    `replayed ${outcome.replayed.length + outcome.nondeterministic.length + outcome.failed.length}: ${outcome.replayed.length} ok, ` +
      `${outcome.nondeterministic.length} nondeterministic, ${outcome.failed.length} failed; ${outcome.undecodable.length} undecodable` +
      (bad ? ' — do not deploy this workflow code' : ''),
  );
  return bad ? 1 : 0;
}

main().then(
  (status) => process.exit(status),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
