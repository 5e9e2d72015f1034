/**
 * Operator commands for a user's address data (GDPR access and erasure, issue #10; docs/privacy.md).
 *
 *   npm run privacy -- export <userId>             JSON to stdout: account email, previous addresses,
 *                                                  change requests, mails sent
 *   npm run privacy -- erase <userId> [--account]  deletes the address history in one transaction;
 *                                                  --account deletes the account too
 *
 * Reads DATABASE_URL like the service. An erasure is refused (exit 3) while a run of the user is open (a pending change, an unsent notice, an undo window).
 */
import { exitOnConfigError } from '../src/entry';
import { createPool } from '../src/db/pool';
import { createLogger } from '../src/log';
import { eraseAddressHistory, ErasureRefusedError } from '../src/privacy/erasure';
import { exportAddressHistory, UnknownUserError } from '../src/privacy/export';

const USAGE = 'usage: npm run privacy -- export <userId> | erase <userId> [--account]\n';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function main(args: string[]): Promise<number> {
  const [command, userId, ...flags] = args;
  const account = flags.includes('--account');
  if (!(command === 'export' || command === 'erase') || !userId || !UUID.test(userId) || flags.some((f) => f !== '--account') || (account && command !== 'erase')) {
    process.stderr.write(USAGE);
    return 2;
  }
  const config = exitOnConfigError();
  if (!config.databaseUrl) {
    process.stderr.write('DATABASE_URL is required (the PostgreSQL the service uses)\n');
    return 2;
  }
  const pool = createPool(config.databaseUrl, 1, createLogger(config.logLevel, { service: 'privacy' }));
  try {
    const result = command === 'export' ? await exportAddressHistory(pool, userId) : await eraseAddressHistory(pool, userId, { account });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof UnknownUserError || err instanceof ErasureRefusedError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return err instanceof UnknownUserError ? 4 : 3;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
