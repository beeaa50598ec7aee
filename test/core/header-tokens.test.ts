import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatExtensions, isToken, listHasToken, parseExtensions, parseTokenList, type ExtensionOffer } from '../../src/core/header-tokens.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });

/** Runs `fn` and returns how long it took, in milliseconds. */
/**
 * The CPU time `fn` takes, in ms: the process's user + system time, not the wall clock, so other
 * processes competing for the cores (a loaded CI machine) do not count, and a bound on it checks
 * the algorithm, not the machine's load. The bounds below are far from both sides: the linear
 * parsers take tens of ms of CPU on 1 MB, a quadratic one would take minutes.
 */
function timed(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

describe('RFC 7230 section 3.2.6: tokens', () => {
  it('accepts every tchar and nothing else', () => {
    assert.equal(isToken(TCHARS), true);
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      assert.equal(isToken(ch), TCHARS.includes(ch), `code ${c}`);
    }
    assert.equal(isToken(''), false);
    assert.equal(isToken('a b'), false);
    assert.equal(isToken('é'), false);
    assert.equal(isToken('a\u0100'), false);
  });
});

describe('RFC 7230 section 7: token lists (#rule)', () => {
  it('splits on commas and trims optional whitespace', () => {
    assert.deepEqual(parseTokenList('keep-alive, Upgrade'), ['keep-alive', 'Upgrade']);
    assert.deepEqual(parseTokenList('a,b'), ['a', 'b']);
    assert.deepEqual(parseTokenList(' \ta \t,\t b '), ['a', 'b']);
  });

  it('skips empty list elements', () => {
    assert.deepEqual(parseTokenList(', a ,, b,'), ['a', 'b']);
    assert.deepEqual(parseTokenList(''), []);
    assert.deepEqual(parseTokenList(' , ,'), []);
  });

  it('returns null when an element is not a token', () => {
    assert.equal(parseTokenList('a b'), null);
    assert.equal(parseTokenList('a, b c'), null);
    assert.equal(parseTokenList('a;b'), null);
    assert.equal(parseTokenList('"a"'), null);
    assert.equal(parseTokenList('a\r\nb'), null);
    assert.equal(parseTokenList('chat/1'), null);
  });

  it('listHasToken answers as parseTokenList and a case-insensitive search would', () => {
    assert.equal(listHasToken('keep-alive, Upgrade', 'upgrade'), true);
    assert.equal(listHasToken('keep-alive, Upgrades', 'upgrade'), false);
    assert.equal(listHasToken('Upgrade, a b', 'upgrade'), null);
    const pieces = fc.constantFrom('upgrade', 'UPGRADE', 'Upgrade', 'upgrad', 'upgradex', 'close', 'a', ',', ' ', '\t', ';', '"', '\u00e9', 'K');
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 10 }), fc.constantFrom('upgrade', 'close', 'k'), (parts, token) => {
        const value = parts.join('');
        const list = parseTokenList(value);
        assert.equal(listHasToken(value, token), list === null ? null : list.some((t) => t.toLowerCase() === token), value);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on random input and returns only tokens', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (s) => {
        const r = parseTokenList(s);
        if (r !== null) for (const t of r) assert.equal(isToken(t), true);
      }),
    );
  });

  it('reads the join of lists it was given back (a, b + c -> a, b, c)', () => {
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), (tokens) => {
        assert.deepEqual(parseTokenList(tokens.join(' ,')), tokens);
      }),
    );
  });

  it('stays linear on a 1 MB hostile value', () => {
    const commas = ', '.repeat(512 * 1024);
    const longToken = 'a'.repeat(1024 * 1024);
    const spaces = ' '.repeat(1024 * 1024) + 'x y';
    let r: unknown;
    const ms = timed(() => {
      r = parseTokenList(commas);
      assert.deepEqual(r, []);
      r = parseTokenList(longToken);
      assert.equal((r as string[])[0]!.length, 1024 * 1024);
      assert.equal(parseTokenList(spaces), null);
    });
    assert.ok(ms < 1000, `took ${ms} ms of CPU time`);
  });
});

describe('RFC 6455 section 9.1: Sec-WebSocket-Extensions', () => {
  it('parses names and parameters with and without values', () => {
    assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits=10'), [
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
        ],
      },
    ]);
  });

  it('parses several extensions, in order, with whitespace around every separator', () => {
    assert.deepEqual(parseExtensions(' foo ;a = 1 ; b ,bar,  baz;c=x  '), [
      { name: 'foo', params: [['a', '1'], ['b', true]] },
      { name: 'bar', params: [] },
      { name: 'baz', params: [['c', 'x']] },
    ]);
  });

  it('unquotes quoted-string values, escapes included', () => {
    assert.deepEqual(parseExtensions('foo; a="10"; b="x\\y"'), [{ name: 'foo', params: [['a', '10'], ['b', 'xy']] }]);
  });

  it('refuses a quoted value that is not a token once unquoted (section 9.1)', () => {
    assert.equal(parseExtensions('foo; a="b c"'), null);
    assert.equal(parseExtensions('foo; a=""'), null);
    assert.equal(parseExtensions('foo; a="\\""'), null);
    assert.equal(parseExtensions('foo; a="x,y"'), null);
  });

  it('refuses malformed values', () => {
    for (const bad of [
      'foo;',
      'foo; ',
      'foo;;a',
      'foo; =1',
      'foo; a=',
      'foo; a= ;b',
      'foo; a="1',
      'foo; a="1\\',
      'foo bar',
      'foo; a b',
      'foo; a=1 2',
      ';a',
      'foo, ;a',
      'foo; a="\u0001"',
      'foo; a=é',
      'foo/1',
      'foo; a="1"x',
    ]) {
      assert.equal(parseExtensions(bad), null, JSON.stringify(bad));
    }
  });

  it('skips empty list elements and reads an empty value as no extensions', () => {
    assert.deepEqual(parseExtensions(''), []);
    assert.deepEqual(parseExtensions(' , ,'), []);
    assert.deepEqual(parseExtensions(',foo,,bar,'), [
      { name: 'foo', params: [] },
      { name: 'bar', params: [] },
    ]);
  });

  it('formats offers so that they parse back to the same offers', () => {
    const offer = fc.record({
      name: token,
      params: fc.array(fc.tuple(token, fc.oneof(fc.constant(true as const), token)), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(fc.array(offer, { maxLength: 5 }), (generated) => {
        // fast-check builds null-prototype records; the parser returns plain objects.
        const offers: ExtensionOffer[] = generated.map((o) => ({ name: o.name, params: o.params }));
        assert.deepEqual(parseExtensions(formatExtensions(offers)), offers);
      }),
    );
  });

  it('formats the usual shape', () => {
    assert.equal(
      formatExtensions([{ name: 'permessage-deflate', params: [['client_max_window_bits', true], ['server_max_window_bits', '10']] }]),
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10',
    );
    assert.equal(formatExtensions([]), '');
    assert.equal(formatExtensions([{ name: 'a', params: [] }, { name: 'b', params: [] }]), 'a, b');
  });

  it('quotes values that are not tokens, and refuses what no header can carry', () => {
    assert.equal(formatExtensions([{ name: 'x', params: [['a', 'b "c\\']] }]), 'x; a="b \\"c\\\\"');
    assert.throws(() => formatExtensions([{ name: 'x', params: [['a', 'b\r\nSet-Cookie: y']] }]), InvalidArgumentError);
    assert.throws(() => formatExtensions([{ name: 'x', params: [['a', '\0']] }]), InvalidArgumentError);
    assert.throws(() => formatExtensions([{ name: 'x y', params: [] }]), InvalidArgumentError);
    assert.throws(() => formatExtensions([{ name: 'x', params: [['a=b', true]] }]), InvalidArgumentError);
  });

  it('never throws on random input', () => {
    const alphabet = fc.constantFrom(...'ab=;," \\\t\r\n\u0000é\u0100'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 64 }), fc.string({ unit: alphabet, maxLength: 64 })), (s) => {
        const r = parseExtensions(s);
        if (r !== null) {
          for (const e of r) {
            assert.equal(isToken(e.name), true);
            for (const [k, v] of e.params) {
              assert.equal(isToken(k), true);
              if (v !== true) assert.equal(isToken(v), true);
            }
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('stays linear on 1 MB hostile values', () => {
    const MB = 1024 * 1024;
    const cases = [
      ', '.repeat(MB / 2),
      'a' + '; b'.repeat(MB / 3),
      'a; b="' + '\\x'.repeat(MB / 2) + '"',
      'a; b="' + 'x'.repeat(MB), // unterminated
      'a; b="' + '\\'.repeat(MB), // escapes to the end
      'a'.repeat(MB) + ' ',
      ' '.repeat(MB) + ';',
      'a; b=' + 'c'.repeat(MB) + ' d',
      'a,'.repeat(MB / 2),
    ];
    for (const [k, c] of cases.entries()) {
      const ms = timed(() => parseExtensions(c));
      assert.ok(ms < 1000, `case ${k} took ${ms} ms of CPU time`);
    }
    assert.equal(parseExtensions(cases[2]!)![0]!.params[0]![1], 'x'.repeat(MB / 2));
    assert.equal(parseExtensions(cases[1]!)![0]!.params.length, Math.floor(MB / 3));
  });
});
