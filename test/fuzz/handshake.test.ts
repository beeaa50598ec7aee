/**
 * Property-based fuzzing of the handshake parsers a peer reaches before any WebSocket exists:
 * `HttpHeadParser` (request and response heads), `checkUpgradeRequest`, `parseTokenList` and
 * `parseExtensions`. They never throw on input, give the same answer however the bytes are split,
 * stay within their limits, and run in linear time (no backtracking regular expression anywhere).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HttpHeadParser, type HttpHeadLimits, type HttpHeadResult } from '../../src/core/http-head.js';
import { checkUpgradeRequest, isValidKey, type UpgradeRequest } from '../../src/core/handshake.js';
import { isValidHost } from '../../src/core/host.js';
import { formatExtensions, isToken, parseExtensions, parseTokenList } from '../../src/core/header-tokens.js';
import { fuzzParameters } from './fuzz-runs.js';

const latin1 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

// ------------------------------------------------------------------------------------------------
// Generators

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const tokenArb = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
const owsArb = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });
/** Characters that matter to the header grammars, plus any byte. */
const headerCharArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TCHARS) },
  { weight: 4, arbitrary: fc.constantFrom(' ', '\t', ',', ';', '=', '"', '\\', ':', '/') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) },
);
const headerValueArb = fc.string({ unit: headerCharArb, maxLength: 60 });

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const NAMES = ['Host', 'Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Origin', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'X-Other'];

/** A valid upgrade request as (name, value) pairs, before any mutation. */
const validFieldsArb = fc.record({
  protocols: fc.array(tokenArb, { maxLength: 4 }),
  extensions: fc.array(fc.record({ name: tokenArb, params: fc.array(fc.tuple(tokenArb, fc.option(tokenArb, { nil: undefined })), { maxLength: 3 }) }), { maxLength: 3 }),
  origin: fc.option(fc.constantFrom('https://example.com', 'http://127.0.0.1:8080'), { nil: undefined }),
  extra: fc.array(fc.tuple(tokenArb, fc.string({ unit: fc.constantFrom(...TCHARS, ' '), maxLength: 30 })), { maxLength: 4 }),
});

function validFields(v: typeof validFieldsArb extends fc.Arbitrary<infer T> ? T : never): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ['Host', '127.0.0.1:8080'],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', KEY],
    ['Sec-WebSocket-Version', '13'],
  ];
  if (v.origin !== undefined) fields.push(['Origin', v.origin]);
  if (v.protocols.length > 0) fields.push(['Sec-WebSocket-Protocol', v.protocols.join(', ')]);
  if (v.extensions.length > 0) {
    fields.push(['Sec-WebSocket-Extensions', formatExtensions(v.extensions.map((e) => ({ name: e.name, params: e.params.map(([n, p]) => [n, p ?? true] as [string, string | true]) })))]);
  }
  // Extra headers must not collide with the handshake's own (a repeated Host is a different test).
  for (const [n, value] of v.extra) if (!NAMES.some((k) => k.toLowerCase() === n.toLowerCase())) fields.push([`X-${n}`, value.trim()]);
  return fields;
}

/** Field-level mutations: duplicate, drop, replace a value, add a header, change the request line. */
const fieldMutationArb = fc.oneof(
  fc.record({ kind: fc.constant('duplicate' as const), index: fc.nat(), value: fc.option(headerValueArb, { nil: undefined }) }),
  fc.record({ kind: fc.constant('drop' as const), index: fc.nat() }),
  fc.record({ kind: fc.constant('value' as const), index: fc.nat(), value: headerValueArb }),
  fc.record({ kind: fc.constant('add' as const), name: fc.constantFrom(...NAMES), value: headerValueArb }),
  fc.record({ kind: fc.constant('line' as const), line: fc.constantFrom('GET / HTTP/1.0', 'POST / HTTP/1.1', 'GET / HTTP/2.0', 'GET  / HTTP/1.1', 'get / HTTP/1.1', 'GET /\t HTTP/1.1', 'GET / HTTP/1.1 ') }),
);
type FieldMutation = typeof fieldMutationArb extends fc.Arbitrary<infer T> ? T : never;

function requestText(line: string, fields: ReadonlyArray<readonly [string, string]>): string {
  return `${line}\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
}

function applyFieldMutations(fields: Array<[string, string]>, mutations: readonly FieldMutation[]): { line: string; fields: Array<[string, string]> } {
  let line = 'GET /chat?room=1 HTTP/1.1';
  const out = fields.map(([n, v]) => [n, v] as [string, string]);
  for (const m of mutations) {
    if (m.kind === 'line') line = m.line;
    else if (m.kind === 'add') out.push([m.name, m.value]);
    else if (out.length > 0) {
      const i = m.index % out.length;
      if (m.kind === 'drop') out.splice(i, 1);
      else if (m.kind === 'value') out[i] = [out[i]![0], m.value];
      else out.splice(i + 1, 0, [out[i]![0], m.value ?? out[i]![1]]);
    }
  }
  return { line, fields: out };
}

type ByteMutation = { at: number; value: number; kind: 'set' | 'delete' | 'insert' };
const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  value: fc.oneof(fc.constantFrom(0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x7f), fc.integer({ min: 0, max: 255 })),
  kind: fc.constantFrom('set', 'delete', 'insert'),
});

function mutateBytes(bytes: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let out = bytes;
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = Math.min(out.length - 1, Math.floor(m.at * out.length));
    if (m.kind === 'set') {
      out = out.slice();
      out[at] = m.value;
    } else if (m.kind === 'delete') out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + 1)]);
    else out = Uint8Array.from([...out.subarray(0, at), m.value, ...out.subarray(at)]);
  }
  return out;
}

/** Splits `bytes` at the given fractions (or byte by byte), copying nothing. */
function split(bytes: Uint8Array, cuts: readonly number[], byteByByte: boolean): Uint8Array[] {
  if (byteByByte) return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  return out;
}

/** Feeds chunks to a parser; returns the outcome, with `rest` gathered over the remaining chunks. */
function parse(kind: 'request' | 'response', chunks: readonly Uint8Array[], limits?: HttpHeadLimits): HttpHeadResult {
  const parser = new HttpHeadParser(kind, limits);
  let result: HttpHeadResult = { state: 'incomplete' };
  for (let i = 0; i < chunks.length; i++) {
    result = parser.push(chunks[i]!);
    if (result.state === 'complete') {
      const rest = [...result.rest];
      for (const c of chunks.slice(i + 1)) rest.push(...c);
      return { ...result, rest: Uint8Array.from(rest) };
    }
    if (result.state === 'error') return result;
  }
  return result;
}

function comparable(result: HttpHeadResult): unknown {
  if (result.state === 'complete') return { state: result.state, head: { ...result.head, headers: { ...result.head.headers } }, rest: [...result.rest] };
  return result;
}

// ------------------------------------------------------------------------------------------------

describe('Fuzz: HttpHeadParser (RFC 7230 section 3), any split of any bytes', () => {
  const caseArb = fc.record({
    kind: fc.constantFrom<'request' | 'response'>('request', 'response'),
    valid: validFieldsArb,
    fieldMutations: fc.array(fieldMutationArb, { maxLength: 3 }),
    byteMutations: fc.oneof(fc.constant([] as ByteMutation[]), fc.array(byteMutationArb, { minLength: 1, maxLength: 3 })),
    trailer: fc.uint8Array({ maxLength: 8 }),
    limits: fc.record({ maxHeadSize: fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined }), maxHeaderCount: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }) }),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 }),
    byteByByte: fc.boolean(),
  });

  it('never throws, answers the same for every split, and respects its limits', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { line, fields } = applyFieldMutations(validFields(c.valid), c.fieldMutations);
        const startLine = c.kind === 'request' ? line : 'HTTP/1.1 101 Switching Protocols';
        const head = latin1(requestText(startLine, fields));
        const bytes = mutateBytes(Uint8Array.from([...head, ...c.trailer]), c.byteMutations);
        const whole = parse(c.kind, [bytes], c.limits);
        const pieces = parse(c.kind, split(bytes, c.cuts, c.byteByByte), c.limits);
        assert.deepEqual(comparable(pieces), comparable(whole), 'the split does not change the outcome');
        if (whole.state === 'error') {
          assert.ok(whole.status === 400 || whole.status === 431, `status ${whole.status}`);
        } else if (whole.state === 'complete') {
          const consumed = bytes.length - whole.rest.length;
          assert.ok(consumed <= (c.limits.maxHeadSize ?? 16 * 1024), 'head within maxHeadSize');
          assert.ok(whole.head.rawHeaders.length / 2 <= (c.limits.maxHeaderCount ?? 100), 'fields within maxHeaderCount');
          for (let i = 0; i < whole.head.rawHeaders.length; i += 2) {
            assert.ok(isToken(whole.head.rawHeaders[i]!), 'field names are tokens');
            assert.ok(!/[\r\n\0]/.test(whole.head.rawHeaders[i + 1]!), 'values hold no CR, LF or NUL');
          }
          assert.deepEqual([...whole.rest], [...bytes.subarray(consumed)], 'rest is exactly the bytes after the head');
        }
      }),
      fuzzParameters(),
    );
  });

  it('a well-formed request within the limits parses to exactly its fields', () => {
    fc.assert(
      fc.property(validFieldsArb, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 }), (v, cuts) => {
        const fields = validFields(v);
        const result = parse('request', split(latin1(requestText('GET /chat HTTP/1.1', fields)), cuts, false));
        assert.equal(result.state, 'complete');
        if (result.state !== 'complete') return;
        assert.deepEqual(result.head.startLine, ['GET', '/chat', 'HTTP/1.1']);
        assert.deepEqual(result.head.rawHeaders, fields.flat());
        const check = checkUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: result.head.headers, rawHeaders: result.head.rawHeaders });
        assert.ok(check.ok, `a valid request is accepted: ${check.ok ? '' : check.body}`);
        assert.deepEqual(check.protocols, v.protocols);
        assert.deepEqual(check.extensions.map((e) => e.name), v.extensions.map((e) => e.name));
      }),
      fuzzParameters(),
    );
  });
});

describe('Fuzz: checkUpgradeRequest (RFC 6455 section 4.2.1) on mutated requests', () => {
  it('never throws, refuses with 400/405/426, accepts only what section 4.2.1 allows', () => {
    fc.assert(
      fc.property(validFieldsArb, fc.array(fieldMutationArb, { maxLength: 4 }), (v, mutations) => {
        const { line, fields } = applyFieldMutations(validFields(v), mutations);
        const result = parse('request', [latin1(requestText(line, fields))]);
        if (result.state !== 'complete') return;
        const [method, , version] = result.head.startLine;
        const req: UpgradeRequest = { method, httpVersion: version.slice(5), headers: result.head.headers, rawHeaders: result.head.rawHeaders };
        const check = checkUpgradeRequest(req);
        const count = (name: string): number => fields.filter(([n]) => n.toLowerCase() === name).length;
        if (!check.ok) {
          assert.ok([400, 405, 426].includes(check.status), `status ${check.status}`);
          return;
        }
        assert.equal(method, 'GET');
        assert.ok(version === 'HTTP/1.1' || version === 'HTTP/2.0', version);
        assert.ok(isValidKey(check.key));
        // Section 4.2.1 and RFC 7230 section 5.4: exactly one of each of these.
        for (const name of ['host', 'upgrade', 'sec-websocket-key', 'sec-websocket-version']) assert.equal(count(name), 1, `one ${name}`);
        assert.ok(count('origin') <= 1, 'at most one Origin');
        assert.ok(check.host.length > 0);
        // RFC 9112 section 3.2: only a valid `host [":" port]` gets through.
        assert.ok(isValidHost(check.host), check.host);
        for (const p of check.protocols) assert.ok(isToken(p));
      }),
      fuzzParameters(),
    );
  });

  it('never throws on arbitrary header maps, arrays included', () => {
    const valueArb = fc.oneof(headerValueArb, fc.array(headerValueArb, { maxLength: 3 }), fc.constant(undefined));
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'POST', ''),
        fc.constantFrom('1.1', '1.0', '2.0', '', 'x.y', '1', '01.1', '1.10'),
        fc.dictionary(fc.constantFrom(...NAMES.map((n) => n.toLowerCase()), '__proto__', 'constructor'), valueArb),
        fc.option(fc.array(fc.oneof(fc.constantFrom(...NAMES), headerValueArb), { maxLength: 12 }), { nil: undefined }),
        (method, httpVersion, headers, rawHeaders) => {
          const check = checkUpgradeRequest({ method, httpVersion, headers, rawHeaders });
          if (!check.ok) assert.ok([400, 405, 426].includes(check.status));
          else assert.ok(isValidKey(check.key));
        },
      ),
      fuzzParameters(),
    );
  });
});

describe('Fuzz: header token lists and Sec-WebSocket-Extensions (RFC 7230 section 7, RFC 6455 section 9.1)', () => {
  it('parseTokenList never throws, returns tokens only, and reads back its own output', () => {
    fc.assert(
      fc.property(headerValueArb, (value) => {
        const list = parseTokenList(value);
        if (list === null) return;
        for (const t of list) assert.ok(isToken(t));
        assert.deepEqual(parseTokenList(list.join(', ')), list);
      }),
      fuzzParameters(),
    );
  });

  it('parseTokenList reads any list of tokens with any optional whitespace and empty elements', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(owsArb, fc.option(tokenArb, { nil: '' }), owsArb), { maxLength: 8 }), (parts) => {
        const value = parts.map(([a, t, b]) => a + t + b).join(',');
        assert.deepEqual(parseTokenList(value), parts.map(([, t]) => t).filter((t) => t !== ''));
      }),
      fuzzParameters(),
    );
  });

  it('parseExtensions never throws, and what it returns formats and parses back to the same', () => {
    fc.assert(
      fc.property(headerValueArb, (value) => {
        const offers = parseExtensions(value);
        if (offers === null) return;
        for (const o of offers) {
          assert.ok(isToken(o.name));
          for (const [n, v] of o.params) assert.ok(isToken(n) && (v === true || isToken(v)));
        }
        assert.deepEqual(parseExtensions(formatExtensions(offers)), offers);
      }),
      fuzzParameters(),
    );
  });
});

describe('Linear time on pathological handshake values (no backtracking on input)', () => {
  // 1 MiB of input each: linear parsers take milliseconds; anything quadratic would take minutes.
  // The bound is generous on purpose, as the machine running the tests may be loaded.
  const N = 1 << 20;
  const BOUND_MS = 3000;
  const timed = (what: string, f: () => unknown): void => {
    const start = performance.now();
    f();
    const ms = performance.now() - start;
    assert.ok(ms < BOUND_MS, `${what}: ${ms.toFixed(0)} ms for ${N} characters`);
  };

  it('token lists: whitespace and commas, long tokens, a bad byte at the very end', () => {
    timed('commas', () => assert.deepEqual(parseTokenList(' ,'.repeat(N / 2)), []));
    timed('OWS then a non-token', () => assert.equal(parseTokenList(' '.repeat(N) + '@'), null));
    timed('tokens', () => assert.equal(parseTokenList('a, '.repeat(N / 3))!.length, Math.floor(N / 3)));
    timed('one long token then a bad byte', () => assert.equal(parseTokenList('a'.repeat(N) + ' x'), null));
  });

  it('extensions: many parameters, long quoted strings, escapes, unterminated quotes', () => {
    timed('parameters', () => assert.equal(parseExtensions('x' + '; a'.repeat(N / 3))![0]!.params.length, Math.floor(N / 3)));
    timed('escapes', () => assert.equal(parseExtensions('x; a="' + '\\a'.repeat(N / 2) + '"')![0]!.params[0]![1], 'a'.repeat(N / 2)));
    timed('unterminated', () => assert.equal(parseExtensions('x; a="' + 'b'.repeat(N)), null));
    timed('quote after quote', () => assert.equal(parseExtensions('x; a="b"'.repeat(N / 8)), null));
    timed('elements', () => assert.equal(parseExtensions('x, '.repeat(N / 3))!.length, Math.floor(N / 3)));
  });

  it('a whole upgrade request with 1 MiB protocol and extension headers', () => {
    const headers = {
      host: 'h',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': KEY,
      'sec-websocket-version': '13',
      'sec-websocket-protocol': 'p, '.repeat(N / 3),
      'sec-websocket-extensions': 'x; a=1, '.repeat(N / 8),
    };
    timed('checkUpgradeRequest', () => assert.ok(checkUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers }).ok));
  });

  it('an HTTP head of 1 MiB fed one byte at a time, and one of a million empty-valued fields', () => {
    const big = latin1('GET / HTTP/1.1\r\nX: ' + 'v'.repeat(N) + '\r\n\r\n');
    timed('byte by byte', () => {
      const parser = new HttpHeadParser('request', { maxHeadSize: 2 * N });
      let result: HttpHeadResult = { state: 'incomplete' };
      for (let i = 0; i < big.length; i++) result = parser.push(big.subarray(i, i + 1));
      assert.equal(result.state, 'complete');
    });
    const many = latin1('GET / HTTP/1.1\r\n' + 'a:\r\n'.repeat(N / 4) + '\r\n');
    timed('fields', () => assert.equal(new HttpHeadParser('request', { maxHeadSize: 2 * N, maxHeaderCount: N }).push(many).state, 'complete'));
  });
});
