import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runBench } from '../bench/harness';
import { writeResults } from '../bench/report';

/**
 * A tiny run of the benchmark harness (`npm run bench` is not part of `npm test`): the engine bound
 * and the end-to-end flow at concurrency 1, three flows each, against the global setup's Temporal
 * and PostgreSQL, with the API and workers inside this process.
 */
describe('benchmark harness (smoke)', () => {
  it('measures positive throughput for the engine bound and the end-to-end flow, and writes its report', async () => {
    const results = await runBench({
      mode: 'inprocess',
      sections: ['engine', 'e2e'],
      levels: [1],
      levelSeconds: 15,
      maxFlowsPerLevel: 3,
      warmupSeconds: 0,
      temporalAddress: inject('temporalAddress'),
      databaseUrl: inject('databaseUrl'),
      workflowBundlePath: inject('workflowBundlePath'),
      logLevel: 'silent',
    });

    expect(results.errors).toEqual([]);
    const engine = results.engine![0]!;
    const e2e = results.e2e![0]!;
    expect(engine).toMatchObject({ concurrency: 1, completed: 3, failed: 0 });
    expect(e2e).toMatchObject({ concurrency: 1, completed: 3, failed: 0 });
    expect(engine.perSec).toBeGreaterThan(0);
    expect(e2e.perSec).toBeGreaterThan(0);
    expect(e2e.ratioToEngine).toBeGreaterThan(0);
    // The floors (issue #12): the engine minimum, the same with the mail as a regular activity, and the add's own shape with no-op bodies.
    expect(results.engineMinimal![0]).toMatchObject({ concurrency: 1, completed: 3, failed: 0 });
    expect(results.engineMailFloor![0]).toMatchObject({ concurrency: 1, completed: 3, failed: 0 });
    expect(results.engineMailFloor![0]!.steps.startToMail!.p50).toBeGreaterThan(0);
    expect(e2e.ratioToMailFloor).toBeGreaterThan(0);
    expect(results.engineAddShape![0]).toMatchObject({ concurrency: 1, completed: 3, failed: 0 });
    expect(e2e.ratioToAddShape).toBeGreaterThan(0);
    expect(e2e.latency.p50).toBeGreaterThan(0);
    expect(e2e.steps.startToMail!.p50).toBeGreaterThan(0);

    const dir = path.join(inject('tempDir'), 'bench-smoke');
    const { markdown, files } = writeResults(dir, results);
    expect(markdown).toContain('| 1 |');
    expect(markdown).toContain('engine minimum with the mail, concurrency 1');
    expect(fs.readFileSync(files[2]!, 'utf8')).toContain('<polyline');
    expect(JSON.parse(fs.readFileSync(files[0]!, 'utf8')).e2e[0].perSec).toBe(e2e.perSec);
  }, 60_000);
});
