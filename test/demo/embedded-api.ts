import type http from 'node:http';
import { loadConfig } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/log';
import { closeServer, createTemporalClient, listen } from '../../src/api/server';
import type { SmtpCapture } from '../../src/dev/smtp-capture';

/**
 * The API as `npm start` (src/main.ts) wires it: with the SMTP capture server as `outbox`, which is
 * what turns on /dev/outbox and /demo. test/helpers/services.ts's startApi is the standalone API (no outbox).
 */
export async function startEmbeddedApi(env: Record<string, string>, outbox: SmtpCapture | undefined) {
  const config = loadConfig(env);
  const log = createLogger(config.logLevel, { service: 'demo-api' });
  const pool = createPool(config.databaseUrl!, config.databasePoolSize, log);
  const temporal = createTemporalClient(config.temporal.address!, config.temporal.namespace, config.payloadKeys);
  const server: http.Server = await listen({ config, pool, temporal, log, outbox }, config.port, '127.0.0.1');
  return {
    baseUrl: `http://127.0.0.1:${config.port}`,
    pool,
    async stop() {
      await closeServer(server);
      await temporal.connection.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
