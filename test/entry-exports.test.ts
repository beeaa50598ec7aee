// Issue 16, point 8: the public surface is what each entry exports, values and types alike. This
// lists those names with the TypeScript checker (as a user's editor sees them) and compares them
// with test/fixtures/entry-exports.json, so that a name cannot join or leave an entry by accident
// (e.g. when an export list is rewritten, or `export *` picks up a helper). A change to the
// surface that is meant updates that file in the same commit: the failure says which names moved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// build/test/ -> the repository's root.
const root = fileURLToPath(new URL('../..', import.meta.url));
const ENTRIES: Record<string, string> = {
  hybi: 'src/index.ts',
  'hybi/core': 'src/hybi-core.ts',
  'hybi/browser': 'src/browser.ts',
  'hybi/redis': 'src/redis/index.ts',
};

/** Each entry's exported names, sorted; a name exported as a type only is marked `type `. */
function entryExports(): Record<string, string[]> {
  const program = ts.createProgram(Object.values(ENTRIES).map((file) => `${root}${file}`), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const result: Record<string, string[]> = {};
  for (const [entry, file] of Object.entries(ENTRIES)) {
    const source = program.getSourceFile(`${root}${file}`);
    assert.ok(source !== undefined, file);
    const module = checker.getSymbolAtLocation(source);
    assert.ok(module !== undefined, `${file} is a module`);
    result[entry] = checker
      .getExportsOfModule(module)
      .map((symbol) => {
        let target = symbol;
        while ((target.flags & ts.SymbolFlags.Alias) !== 0) target = checker.getAliasedSymbol(target);
        const typeOnly = (target.flags & ts.SymbolFlags.Value) === 0 || symbol.declarations?.some((d) => ts.isTypeOnlyImportOrExportDeclaration(d)) === true;
        return `${typeOnly ? 'type ' : ''}${symbol.name}`;
      })
      .sort();
  }
  return result;
}

test('each entry exports exactly the names of test/fixtures/entry-exports.json', () => {
  const expected = JSON.parse(readFileSync(`${root}test/fixtures/entry-exports.json`, 'utf8')) as Record<string, string[]>;
  const actual = entryExports();
  for (const entry of Object.keys(ENTRIES)) {
    const have = new Set(actual[entry]);
    const want = new Set(expected[entry]);
    const added = [...have].filter((name) => !want.has(name));
    const removed = [...want].filter((name) => !have.has(name));
    assert.deepEqual({ added, removed }, { added: [], removed: [] }, `${entry}: names that joined or left the entry (update test/fixtures/entry-exports.json if meant)`);
  }
});
