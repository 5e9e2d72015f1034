import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeclineCode } from '../../src/workflows/messages';
import { REASON_CODES } from '../../src/api/schemas';

/** docs/errors.md and the source agree both ways on every (code, status) an answer can carry. */

const ROOT = path.resolve(__dirname, '../..');
const sourceFiles = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));

/** `new AppError(409, 'CODE'` / `new AppError(409, DeclineCode.x`, and the status → code table of the error mapper. */
function codesInSource(): Set<string> {
  const pairs = new Set<string>();
  for (const file of sourceFiles(path.join(ROOT, 'src'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/new AppError\(\s*(\d{3})\s*,\s*(?:'([A-Z_]+)'|DeclineCode\.(\w+))/g)) {
      const code = m[2] ?? DeclineCode[m[3] as keyof typeof DeclineCode];
      expect(code, `${file}: ${m[0]}`).toBeDefined();
      pairs.add(`${code} ${m[1]}`);
    }
    const table = /CODE_FOR_HTTP_STATUS[^=]*=\s*\{([^}]*)\}/.exec(text);
    for (const m of table?.[1]?.matchAll(/(\d{3}):\s*'([A-Z_]+)'/g) ?? []) pairs.add(`${m[2]} ${m[1]}`);
    // The mapper's fallback for any other 4xx.
    if (/\?\? 'BAD_REQUEST'/.test(text)) pairs.add('BAD_REQUEST 4xx');
  }
  return pairs;
}

function codesInCatalogue(): Set<string> {
  const text = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
  const table = text.slice(0, text.indexOf('## Why a request ended'));
  return new Set([...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}|4xx) \|/gm)].map((m) => `${m[1]} ${m[2]}`));
}

describe('the error catalogue (docs/errors.md)', () => {
  it('lists every (code, status) the source answers with, and nothing else', () => {
    const source = codesInSource();
    const catalogue = codesInCatalogue();
    expect(source.size).toBeGreaterThan(15);
    expect([...source].filter((p) => !catalogue.has(p)), 'in the source, missing from docs/errors.md').toEqual([]);
    expect([...catalogue].filter((p) => !source.has(p)), 'in docs/errors.md, not answered by the source').toEqual([]);
  });

  it('one status per code, and "nothing pending" is 404 everywhere', () => {
    const byCode = new Map<string, Set<string>>();
    for (const pair of codesInSource()) {
      const [code, status] = pair.split(' ') as [string, string];
      byCode.set(code, (byCode.get(code) ?? new Set()).add(status));
    }
    for (const [code, statuses] of byCode) expect([...statuses], code).toHaveLength(1);
    expect([...byCode.get('NO_PENDING_CHANGE')!]).toEqual(['404']);
    expect(byCode.has('NOT_PENDING')).toBe(false);
  });

  it('lists every reasonCode of the change object', () => {
    const text = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
    const listed = [...text.slice(text.indexOf('## Why a request ended')).matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...REASON_CODES].sort());
  });
});
