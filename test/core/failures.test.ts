import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../src/core/errors.js';
import { Failures, REASON_MESSAGE, type FailureKind } from '../../src/core/failures.js';

// build/test/core/ -> the repository's root.
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The rows of docs/errors.md's table that name a code: code -> the close-code cell and the row. */
function documentedRows(): Map<string, { closeCell: string; row: string }[]> {
  const text = readFileSync(`${root}docs/errors.md`, 'utf8');
  const rows = new Map<string, { closeCell: string; row: string }[]>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.split('|').map((cell) => cell.trim());
    // | class | `code` | close code | raised when | fields |
    const code = /^`(ERR_[A-Z0-9_]+)`$/.exec(cells[2] ?? '')?.[1];
    if (code === undefined) continue;
    const list = rows.get(code) ?? [];
    list.push({ closeCell: cells[3] ?? '', row: line });
    rows.set(code, list);
  }
  return rows;
}

const kinds: FailureKind[] = Object.values(Failures);

describe('the failure table', () => {
  it('has a kind for every error code, and only known codes', () => {
    const codes = new Set<string>(Object.values(ErrorCode));
    for (const kind of kinds) assert.ok(codes.has(kind.code), kind.code);
    for (const code of codes) assert.ok(kinds.some((kind) => kind.code === code), `${code} has no kind in the failure table`);
  });

  it('is what docs/errors.md says: every code documented, with the close codes and reasons of its kinds', () => {
    const rows = documentedRows();
    for (const code of Object.values(ErrorCode)) {
      const documented = rows.get(code);
      assert.ok(documented !== undefined, `${code} is not in docs/errors.md`);
      const expected = [...new Set(kinds.filter((k) => k.code === code && k.closeCode !== null).map((k) => k.closeCode!))].sort();
      const written = [...new Set(documented.flatMap(({ closeCell }) => (closeCell.match(/\b1\d{3}\b/g) ?? []).map(Number)))].sort();
      assert.deepEqual(written, expected, `close codes of ${code} in docs/errors.md`);
      for (const kind of kinds) {
        if (kind.code !== code || kind.reason === '' || kind.reason === REASON_MESSAGE) continue;
        assert.ok(documented.some(({ row }) => row.includes(kind.reason)), `docs/errors.md does not give ${code}'s reason "${kind.reason}"`);
      }
    }
    for (const code of rows.keys()) assert.ok((Object.values(ErrorCode) as string[]).includes(code), `docs/errors.md names unknown code ${code}`);
  });
});
