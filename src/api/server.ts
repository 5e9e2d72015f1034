import http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { createApp, type ApiDeps } from './app';
import { dataConverter } from '../codec/data-converter';
import type { PayloadKey } from '../codec/payload-keys';
import { createPool } from '../db/pool';
import { migrate } from '../db/migrate';
import { createLogger } from '../log';
import { exitOnConfigError } from '../entry';
import { temporalConnectionOptions, type TemporalConnectionOptions } from '../temporal-connection';
import { shutdownTracing, tracingFor, type Tracing } from '../observability/tracing';

/** Listens on `port` (0 = any free port); resolves with the server once it accepts connections. */
export async function listen(deps: ApiDeps, port: number, host = '0.0.0.0'): Promise<http.Server> {
  const app = createApp(deps);
  const server = http.createServer(app.callback());
  // Long-lived responses (status streams) end first; background work hands back what to wait for.
  server.once('shutdown', (pending: Promise<void>[]) => app.emit('shutdown', pending));
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  app.emit('listening');
  return server;
}

/** Stops taking requests and resolves once they and the app's background work (a reconcile pass) ended: then the Temporal connection may close. */
export async function closeServer(server: http.Server): Promise<void> {
  const pending: Promise<void>[] = [];
  server.emit('shutdown', pending);
  server.closeIdleConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all(pending);
}

/**
 * A Temporal client that connects on first use, so the API can start (and say "not ready") while
 * Temporal is down; it encrypts what it sends (inputs, update arguments) and decrypts what it reads.
 */
export function createTemporalClient(
  target: string | (TemporalConnectionOptions & { address: string }),
  namespace: string,
  payloadKeys: PayloadKey[],
  tracing?: Tracing,
): Client {
  // A short connect timeout: with Temporal down, requests answer 503 in seconds instead of waiting 10 s to connect.
  const options = typeof target === 'string' ? { address: target } : target;
  return new Client({
    connection: Connection.lazy({ ...options, connectTimeout: '2s' }),
    namespace,
    dataConverter: dataConverter(payloadKeys),
    ...(tracing ? { interceptors: { workflow: tracing.clientInterceptors } } : {}),
  });
}

async function run(): Promise<void> {
  const config = exitOnConfigError();
  const log = createLogger(config.logLevel, { service: 'api' });
  if (!config.databaseUrl || !config.temporal.address) {
    throw new Error('the API needs DATABASE_URL and TEMPORAL_ADDRESS (or run `npm start` for the embedded stack)');
  }
  await migrate(config.databaseUrl, log);
  const pool = createPool(config.databaseUrl, config.databasePoolSize, log);
  const temporal = createTemporalClient(temporalConnectionOptions(config), config.temporal.namespace, config.payloadKeys, tracingFor(config, 'api'));
  const server = await listen({ config, pool, temporal, log }, config.port, config.host ?? '0.0.0.0'); // a container's API serves every interface unless HOST says otherwise
  log.info({ port: config.port, publicBaseUrl: config.publicBaseUrl }, 'API listening');
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    await closeServer(server);
    await temporal.connection.close();
    await pool.end();
    await shutdownTracing();
    process.exit(0);
  };
  process.once('SIGINT', (s) => void stop(s));
  process.once('SIGTERM', (s) => void stop(s));
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
