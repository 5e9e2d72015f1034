import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { exitOnConfigError } from './entry';
import { createLogger } from './log';
import { installTemporalRuntime } from './temporal-runtime';
import { createPool } from './db/pool';
import { migrate } from './db/migrate';
import { createMailTransport } from './mail/transport';
import { createWorker } from './worker';
import { dataConverter } from './codec/data-converter';
import { listen, closeServer } from './api/server';
import { startTemporalDevServer } from './dev/temporal';
import { assertPortsFree, freePort } from './dev/ports';
import { claimDataDir, watchLaunchers, type StackGuard } from './dev/stack-guard';
import { startEmbeddedPostgres } from './dev/postgres';
import { startSmtpCapture, type SmtpCapture } from './dev/smtp-capture';
import { shutdownTracing, tracingFor } from './observability/tracing';

/**
 * `npm start`: the whole service on one machine. Temporal (dev server + Web UI), PostgreSQL and
 * an SMTP capture server are started here unless TEMPORAL_ADDRESS, DATABASE_URL or SMTP_URL
 * name real ones; then migrations, the worker and the API. Ctrl-C stops all of it.
 */
async function main(): Promise<void> {
  const config = exitOnConfigError();
  const log = createLogger(config.logLevel, { service: 'embedded' });
  installTemporalRuntime(log);
  const missing = [
    !config.temporal.address && 'TEMPORAL_ADDRESS',
    !config.databaseUrl && 'DATABASE_URL',
    !config.smtpUrl && 'SMTP_URL',
  ].filter(Boolean);
  if (config.nodeEnv === 'production' && missing.length > 0) {
    process.stderr.write(
      `NODE_ENV=production refuses the embedded development services; set ${missing.join(', ')} to real servers.\n`,
    );
    process.exit(2);
  }

  const dataDir = path.resolve(config.dataDir);
  const host = config.host ?? '127.0.0.1';
  const stops: (() => Promise<unknown>)[] = [];
  let guard: StackGuard | undefined;
  let up = false;
  // In order (the API before the worker before the servers), then any server still starting.
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => log.warn({ err }, 'stop failed'));
    await guard?.stopChildren();
    guard?.release();
  };
  let stopping = false;
  // Stops what is still being prepared (pip installing the Temporal CLI): nothing else is tried after Ctrl-C.
  const startUp = new AbortController();
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    startUp.abort();
    log.info({ signal }, 'stopping');
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `npm start` is npm → sh → this process: a `kill -9` of npm (or sh) leaves this one running, reparented,
  // with the whole stack and DATA_DIR's lock. Noticed within a second; then everything stops as on Ctrl-C.
  watchLaunchers((pid) => {
    if (stopping) return;
    process.stderr.write(`stopping: the process that launched this one (pid ${pid}) is gone\n`);
    onSignal('launcher gone');
  });
  // Output to a terminal or pipe whose reader went with the launcher must not crash the stop.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

  try {
    // One `npm start` per DATA_DIR; servers an earlier one left behind (it was SIGKILLed) are stopped first.
    if (!config.temporal.address || !config.databaseUrl) guard = await claimDataDir(dataDir, (line) => process.stderr.write(`${line}\n`));
    await assertPortsFree([
      { variable: 'PORT', port: config.port, host },
      ...(config.temporal.address ? [] : [{ variable: 'TEMPORAL_UI_PORT', port: config.temporal.uiPort }]),
    ]);
    // The embedded UI reads decrypted payloads from the API's codec server (src/codec/routes.ts)
    // through a capability URL; the token is made up per run unless CODEC_AUTH_TOKEN is set.
    const port = config.port || (await freePort());
    const codecToken = config.codec.authToken ?? (config.temporal.address ? undefined : randomBytes(32).toString('base64url'));
    // All settle before anything is judged, so a failure of one never leaves another starting unwatched.
    const started = await Promise.allSettled([
      config.temporal.address
        ? undefined
        : startTemporalDevServer({
            cliPath: config.temporal.cliPath,
            dbFile: path.join(dataDir, 'temporal.db'),
            uiPort: config.temporal.uiPort,
            uiCodecEndpoint: codecToken && `http://127.0.0.1:${port}/codec/${codecToken}`,
            namespace: config.temporal.namespace,
            retentionMs: config.temporal.retentionMs,
            onSpawn: (pid, what) => guard?.adopt(what === 'server' ? 'temporal' : 'temporal-cli-install', pid, 'SIGTERM'),
            signal: startUp.signal,
          }),
      config.databaseUrl ? undefined : startEmbeddedPostgres(path.join(dataDir, 'postgres'), { onSpawn: (pid) => guard?.adopt('postgres', pid, 'SIGINT') }),
      config.smtpUrl ? undefined : startSmtpCapture(),
    ]);
    const [temporal, postgres, smtp] = [valueOf(started[0]), valueOf(started[1]), valueOf(started[2])];
    if (temporal) stops.push(temporal.stop);
    if (postgres) stops.push(postgres.stop);
    if (smtp) stops.push(smtp.stop);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;

    const resolved = {
      ...config,
      port,
      codec: { ...config.codec, authToken: codecToken },
      databaseUrl: config.databaseUrl ?? postgres!.localUrl,
      smtpUrl: config.smtpUrl ?? smtp!.url,
      temporal: { ...config.temporal, address: config.temporal.address ?? temporal!.address },
    };
    await migrate(resolved.databaseUrl, log);
    const pool = createPool(resolved.databaseUrl, resolved.databasePoolSize, log);
    stops.push(() => pool.end());
    stops.push(shutdownTracing); // stops run in reverse: this one after the API and the worker

    const workerConnection = await NativeConnection.connect({ address: resolved.temporal.address });
    stops.push(() => workerConnection.close());
    const mail = createMailTransport(resolved.smtpUrl, { allowInsecure: resolved.smtpAllowInsecure, smtpUtf8: resolved.smtpUtf8 });
    stops.push(async () => mail.close());
    const worker = await createWorker(workerConnection, { config: resolved, pool, mail, log: log.child({ service: 'worker' }) });
    const workerDone = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerDone;
    });

    const clientConnection = await NativeConnection.connect({ address: resolved.temporal.address });
    stops.push(() => clientConnection.close());
    const tracing = tracingFor(resolved, 'api');
    const temporalClient = new Client({
      connection: clientConnection,
      namespace: resolved.temporal.namespace,
      dataConverter: dataConverter(resolved.payloadKeys),
      ...(tracing ? { interceptors: { workflow: tracing.clientInterceptors } } : {}),
    });
    const server = await listen(
      { config: resolved, pool, temporal: temporalClient, log: log.child({ service: 'api' }), outbox: smtp },
      resolved.port,
      host,
    );
    stops.push(() => closeServer(server));

    printUrls(resolved.publicBaseUrl, temporal?.uiUrl, smtp, `${resolved.temporal.address} (namespace ${resolved.temporal.namespace})`, postgres ? `embedded (127.0.0.1:${postgres.port})` : 'DATABASE_URL');
    up = true;
    await workerDone;
  } catch (err) {
    if (stopping) return;
    stopping = true;
    // One line that says why (the stack at LOG_LEVEL=debug), then everything started so far is stopped.
    log.debug({ err }, up ? 'stopped' : 'start-up failed');
    process.stderr.write(`${up ? 'stopped' : 'start-up failed'}: ${reasonOf(err)}\n`);
    await stopAll();
    process.exit(1);
  }
}

const valueOf = <T>(result: PromiseSettledResult<T>): T | undefined => (result.status === 'fulfilled' ? result.value : undefined);

/** An error's message on one line (a rejection with no Error, or an AggregateError of connection attempts, says so too). */
function reasonOf(err: unknown): string {
  const cause = err instanceof AggregateError && !err.message && err.errors.length > 0 ? err.errors[0] : err;
  const text = cause instanceof Error ? cause.message || cause.name : String(cause);
  return text.replace(/\s+/g, ' ').trim().slice(0, 500);
}

function printUrls(api: string, ui: string | undefined, smtp: SmtpCapture | undefined, temporal: string, db: string) {
  const lines = [
    '',
    'Email change service is running (Ctrl-C stops everything started here)',
    `  API            ${api}        (try ${api}/readyz)`,
    smtp ? `  Outbox         ${api}/dev/outbox   (mail sent to ${smtp.url})` : undefined,
    smtp ? `  Demo app       ${api}/demo         (the whole flow in a browser)` : undefined,
    `  Temporal       ${temporal}`,
    ui ? `  Temporal UI    ${ui}` : undefined,
    `  PostgreSQL     ${db}`,
    '',
  ];
  process.stdout.write(lines.filter((l) => l !== undefined).join('\n') + '\n');
}

void main();
