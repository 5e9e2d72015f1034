import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { ROOT, startEmbedded, stop, type NpmStart } from './npm-start-process';

/**
 * The README's curl walk-through (every ```sh block from "### Try it with curl" to the next "## "
 * heading) pasted in order into one bash against a fresh `npm start`, so it cannot drift again.
 */

const BASE_LINE = 'BASE=http://localhost:3000';

function readmeBlocks(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf('### Try it with curl');
  const section = readme.slice(from, readme.indexOf('\n## ', from));
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

describe('the README runs as written', () => {
  let stack: NpmStart | undefined;
  afterAll(async () => {
    if (stack) await stop(stack.child);
  });

  it('every curl block, in order, against npm start', { timeout: 180_000 }, async () => {
    const blocks = readmeBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    // curl ends no answer with a newline: the test adds one, so each answer is a line of its own.
    const script = ['curl() { command curl "$@"; echo; }', ...blocks.map((block, i) => `echo "=== block ${i + 1}"\n${block}`)].join('\n');
    expect(script.split(BASE_LINE).length - 1, `the README sets ${BASE_LINE} once`).toBe(1);

    const dataDir = fs.mkdtempSync(path.join(inject('tempDir'), 'readme-'));
    fs.chmodSync(dataDir, 0o755);
    const port = await freePort();
    stack = await startEmbedded({ DATA_DIR: dataDir, PORT: String(port), TEMPORAL_UI_PORT: String(await freePort()) });

    // Only the port differs from what a reader pastes.
    const run = spawnSync('bash', ['-e', '-u', '-o', 'pipefail', '-c', script.replace(BASE_LINE, `BASE=http://localhost:${port}`)], {
      encoding: 'utf8',
      timeout: 150_000,
    });
    const report = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nnpm start:\n${stack.output()}`;
    expect(run.status, report).toBe(0);
    expect(run.stderr, report).toBe('');

    const outputs = run.stdout.split(/^=== block \d+\n/m).slice(1);
    expect(outputs).toHaveLength(blocks.length);
    const [signIn, add, change, cancel] = outputs as [string, string, string, string];
    expect(signIn, report).toMatch(/"username":"alice".*"emailVerified":false/);
    expect(add.trim().split('\n').at(-1), report).toMatch(/"email":"alice@example\.com","emailVerified":true/);
    expect(change.trim().split('\n').at(-1), report).toMatch(/"email":"alice@example\.org","emailVerified":true/);
    expect(cancel.trim().split('\n').at(-1), report).toMatch(/"state":"CANCELLED"/);
    // The only refusal a reader meets is the resend within its cooldown, as the comment says.
    const errors = [...run.stdout.matchAll(/"error":\{"code":"(\w+)"/g)].map((m) => m[1]);
    expect(errors, report).toEqual(['RATE_LIMITED']);
  });
});
