/**
 * One reconciliation sweep (issue #13; docs/operations.md "Stuck or terminated runs"):
 *
 *   npm run reconcile
 *
 * Checks every request row still REQUESTED past its deadline (plus 5 minutes) or older than 30 minutes
 * against the user's workflow run and closes the rows whose run is gone (src/email-change/reconcile.ts).
 * Each API process runs the same sweep every 5 minutes; this is for after a restore, or to see the counts.
 * Exit codes: 0 done (prints the counts), 1 error, 2 configuration, 3 another process is sweeping right now.
 */
import { exitOnConfigError } from '../src/entry';
import { createPool } from '../src/db/pool';
import { createLogger } from '../src/log';
import { createTemporalClient } from '../src/api/server';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { Reconciler } from '../src/email-change/reconcile';

async function main(): Promise<number> {
  const config = exitOnConfigError();
  if (!config.databaseUrl || !config.temporal.address) {
    process.stderr.write('DATABASE_URL and TEMPORAL_ADDRESS are required (the PostgreSQL and Temporal the service uses)\n');
    return 2;
  }
  const log = createLogger(config.logLevel, { service: 'reconcile' });
  const pool = createPool(config.databaseUrl, 2, log); // the sweep holds its lock on one connection
  const temporal = createTemporalClient(temporalConnectionOptions(config), config.temporal.namespace, config.payloadKeys);
  try {
    const result = await new Reconciler(pool, temporal).sweep(log);
    if (!result) {
      process.stderr.write('another process is sweeping right now; nothing done\n');
      return 3;
    }
    process.stdout.write(`checked ${result.checked}\tclosed ${result.closed}\tunreachable ${result.unreachable}\n`);
    return 0;
  } finally {
    await temporal.connection.close().catch(() => undefined);
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
