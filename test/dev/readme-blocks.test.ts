import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { ROOT, startEmbedded, stop, type NpmStart } from './npm-start-process';

/**
 * Every shell block of the README (```sh, ```bash, ```shell), in order, pasted into one bash
 * against a fresh `npm start`, so none can drift again: the curl walk-through, the biometric
 * example client, and any block added later. A block a reader cannot run as is here is marked
 * with `not-run` after the language (```sh not-run: `npm ci && npm start` itself, the production
 * build with its placeholders, the search attributes of a real cluster, the 8-minute benchmark);
 * GitHub shows it like any other block. Plain ``` blocks are output or examples, not commands.
 */

const BASE_LINE = 'BASE=http://localhost:3000';
const NOT_RUN = 'not-run';

interface Block {
  line: number;
  info: string[];
  text: string;
}

function shellBlocks(): Block[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```(sh|bash|shell)\b([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    line: readme.slice(0, m.index).split('\n').length,
    info: m[2]!.trim().split(/\s+/).filter(Boolean),
    text: m[3]!,
  }));
}

function readmeBlocks(): string[] {
  return shellBlocks()
    .filter((b) => !b.info.includes(NOT_RUN))
    .map((b) => b.text);
}

describe('the README runs as written', () => {
  let stack: NpmStart | undefined;
  afterAll(async () => {
    if (stack) await stop(stack.child);
  });

  it('marks a block it does not run explicitly, with nothing else after the language', () => {
    const blocks = shellBlocks();
    for (const block of blocks) expect(block.info, `README.md line ${block.line}`).toEqual(block.info.length ? [NOT_RUN] : []);
    expect(blocks.filter((b) => b.info.includes(NOT_RUN)).map((b) => b.text.split('\n')[0])).toEqual([
      expect.stringMatching(/^npm ci && npm start/),
      'npm run build',
      expect.stringMatching(/^temporal operator search-attribute create/),
      expect.stringMatching(/^npm ci && npm run bench/),
    ]);
  });

  it('every other shell block, in order, against npm start', { timeout: 180_000 }, async () => {
    const blocks = readmeBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) expect(block.replace(BASE_LINE, ''), 'no address but $BASE').not.toMatch(/localhost|127\.0\.0\.1/);
    // curl ends no answer with a newline: the test adds one, so each answer is a line of its own.
    const script = ['curl() { command curl "$@"; echo; }', ...blocks.map((block, i) => `echo "=== block ${i + 1}"\n${block}`)].join('\n');
    expect(script.split(BASE_LINE).length - 1, `the README sets ${BASE_LINE} once`).toBe(1);

    const dataDir = fs.mkdtempSync(path.join(inject('tempDir'), 'readme-'));
    fs.chmodSync(dataDir, 0o755);
    const port = await freePort();
    stack = await startEmbedded({ DATA_DIR: dataDir, PORT: String(port), TEMPORAL_UI_PORT: String(await freePort()) });

    // Only the port differs from what a reader pastes.
    const run = spawnSync('bash', ['-e', '-u', '-o', 'pipefail', '-c', script.replace(BASE_LINE, `BASE=http://localhost:${port}`)], {
      cwd: ROOT, // a reader runs them in the clone
      encoding: 'utf8',
      timeout: 150_000,
    });
    const report = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nnpm start:\n${stack.output()}`;
    expect(run.status, report).toBe(0);
    expect(run.stderr, report).toBe('');

    const outputs = run.stdout.split(/^=== block \d+\n/m).slice(1);
    expect(outputs).toHaveLength(blocks.length);
    const [signIn, add, change, cancel, biometric] = outputs as [string, string, string, string, string];
    expect(signIn, report).toMatch(/"username":"alice".*"emailVerified":false/);
    expect(add.trim().split('\n').at(-1), report).toMatch(/"email":"alice@example\.com","emailVerified":true/);
    expect(change.trim().split('\n').at(-1), report).toMatch(/"email":"alice@example\.org","emailVerified":true/);
    expect(cancel.trim().split('\n').at(-1), report).toMatch(/"state":"CANCELLED"/);
    expect(biometric, report).toMatch(/registered device \{[\s\S]*started change \{[\s\S]*state: 'REQUESTED'[\s\S]*newEmail: 'alice@example\.net'/);
    // The only refusal a reader meets is the resend within its cooldown, as the comment says.
    const errors = [...run.stdout.matchAll(/"error":\{"code":"(\w+)"/g)].map((m) => m[1]);
    expect(errors, report).toEqual(['RATE_LIMITED']);
  });
});
