import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MAX_HEAD_SIZE, HttpHeadParser, type HttpHeadLimits, type HttpHeadResult } from '../../src/core/http-head.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

const RESPONSE =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSet-Cookie: a=1\r\nX-Multi: one\r\nset-cookie: b=2\r\nx-multi: two\r\n\r\n';

/** Feeds `bytes` in the given chunk sizes (cycled) and returns the first non-incomplete result. */
function feed(kind: 'request' | 'response', bytes: Uint8Array, sizes: number[] = [bytes.length], limits?: HttpHeadLimits): HttpHeadResult {
  const parser = new HttpHeadParser(kind, limits);
  let offset = 0;
  let k = 0;
  let result: HttpHeadResult = { state: 'incomplete' };
  while (offset < bytes.length) {
    const size = Math.max(1, sizes[k++ % sizes.length]!);
    result = parser.push(bytes.subarray(offset, offset + size));
    offset += size;
    if (result.state !== 'incomplete') {
      if (result.state === 'complete') {
        // Gather what was left of the input after the head, as a caller would.
        const rest = new Uint8Array(result.rest.length + Math.max(0, bytes.length - offset));
        rest.set(result.rest);
        rest.set(bytes.subarray(offset), result.rest.length);
        return { ...result, rest };
      }
      return result;
    }
  }
  return result;
}

function errorOf(result: HttpHeadResult): { status: number; reason: string } {
  assert.equal(result.state, 'error', `expected an error, got ${result.state}`);
  return result as { status: number; reason: string };
}

describe('RFC 7230 section 3: a complete head', () => {
  it('parses a status line and headers, joining repeats and keeping cookies apart', () => {
    const r = feed('response', enc(RESPONSE + '\x81\x02hi'));
    assert.ok(r.state === 'complete');
    assert.deepEqual(r.head.startLine, ['HTTP/1.1', '101', 'Switching Protocols']);
    assert.equal(r.head.headers['upgrade'], 'websocket');
    assert.equal(r.head.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(r.head.headers['x-multi'], 'one, two');
    assert.deepEqual(r.head.headers['set-cookie'], ['a=1', 'b=2']);
    assert.deepEqual(r.head.rawHeaders.slice(0, 4), ['Upgrade', 'websocket', 'Connection', 'Upgrade']);
    assert.equal(r.head.rawHeaders.length, 14);
    assert.deepEqual([...r.rest], [0x81, 0x02, 0x68, 0x69]);
  });

  it('keeps every name as sent in rawHeaders and lower-cased in headers, common names in any case included', () => {
    const names = ['Host', 'host', 'HOST', 'hOsT', 'Sec-WebSocket-Key', 'sec-websocket-key', 'SEC-WEBSOCKET-KEY', 'Hosu', 'Hos-', 'X-Host', 'Origin', 'Date', 'Dat^', 'Server', 'Cookie'];
    const lines = names.map((name, i) => `${name}: v${i}\r\n`).join('');
    const r = feed('request', enc(`GET / HTTP/1.1\r\n${lines}\r\n`));
    assert.ok(r.state === 'complete');
    assert.deepEqual(
      r.head.rawHeaders.filter((_, i) => i % 2 === 0),
      names,
    );
    assert.equal(r.head.headers['host'], 'v0, v1, v2, v3');
    assert.equal(r.head.headers['sec-websocket-key'], 'v4, v5, v6');
    assert.equal(r.head.headers['hosu'], 'v7');
    assert.equal(r.head.headers['hos-'], 'v8');
    assert.equal(r.head.headers['x-host'], 'v9');
    assert.equal(r.head.headers['dat^'], 'v12');
    assert.deepEqual(Object.keys(r.head.headers), ['host', 'sec-websocket-key', 'hosu', 'hos-', 'x-host', 'origin', 'date', 'dat^', 'server', 'cookie']);
  });

  it('parses a request line', () => {
    const r = feed('request', enc('GET /chat?a=b HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.ok(r.state === 'complete');
    assert.deepEqual(r.head.startLine, ['GET', '/chat?a=b', 'HTTP/1.1']);
    assert.equal(r.rest.length, 0);
  });

  it('gives the same head for every split, down to one byte at a time', () => {
    const bytes = enc(RESPONSE + 'tail');
    const whole = feed('response', bytes);
    assert.ok(whole.state === 'complete');
    const oneByOne = feed('response', bytes, [1]);
    assert.deepEqual(oneByOne, whole);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        assert.deepEqual(feed('response', bytes, sizes), whole);
      }),
    );
  });

  it('answers any input the same whatever its split: lines read where they lie and lines copied across chunks agree', () => {
    // Heads, errors and limits alike: a line that arrives whole is read in the chunk, one that
    // spans chunks is gathered first, and the two paths must not differ in any outcome.
    const alphabet = fc.constantFrom(...enc('GET / HTTP/1.1 101 a:Bc\r\n\r\n\t \0\x80\xff'));
    const input = fc.array(alphabet, { maxLength: 160 }).map((bytes) => new Uint8Array(bytes));
    const sizes = fc.array(fc.integer({ min: 1, max: 24 }), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(fc.constantFrom('request' as const, 'response' as const), input, sizes, fc.integer({ min: 20, max: 200 }), (kind, tail, split, maxHeadSize) => {
        const start = enc(kind === 'request' ? 'GET /x HTTP/1.1\r\n' : 'HTTP/1.1 101 OK\r\n');
        const bytes = new Uint8Array([...start, ...tail]);
        const whole = feed(kind, bytes, [bytes.length], { maxHeadSize, maxHeaderCount: 3 });
        assert.deepEqual(feed(kind, bytes, split, { maxHeadSize, maxHeaderCount: 3 }), whole);
        assert.deepEqual(feed(kind, bytes, [1], { maxHeadSize, maxHeaderCount: 3 }), whole);
      }),
      { numRuns: 400 },
    );
  });

  it('returns rest as the untouched bytes after the head, also when the head ends exactly at a chunk end', () => {
    const parser = new HttpHeadParser('response');
    assert.equal(parser.push(enc('HTTP/1.1 101 OK\r\nA: b\r\n\r')).state, 'incomplete');
    const r = parser.push(enc('\n'));
    assert.ok(r.state === 'complete');
    assert.equal(r.rest.length, 0);
    const later = parser.push(enc('frame'));
    assert.ok(later.state === 'complete');
    assert.equal(Buffer.from(later.rest).toString(), 'frame');
  });

  it('trims optional whitespace around values and keeps empty values', () => {
    const r = feed('response', enc('HTTP/1.1 200 OK\r\nA:\t x y \t\r\nB:\r\nC:   \r\n\r\n'));
    assert.ok(r.state === 'complete');
    assert.equal(r.head.headers['a'], 'x y');
    assert.equal(r.head.headers['b'], '');
    assert.equal(r.head.headers['c'], '');
  });

  it('decodes obs-text as latin1, as Node does', () => {
    const r = feed('response', new Uint8Array([...enc('HTTP/1.1 200 OK\r\nX: caf'), 0xe9, ...enc('\r\n\r\n')]));
    assert.ok(r.state === 'complete');
    assert.equal(r.head.headers['x'], 'café');
  });

  it('decodes names and values of every length, short and long, byte for byte', () => {
    // Each length decodes through its own reused code array up to 64 bytes, through views past it.
    const fieldBytes = [...enc('!~aZ09-._'), 0x80, 0xa0, 0xe9, 0xff];
    for (let length = 1; length <= 140; length++) {
      const value = Buffer.from(Array.from({ length }, (_, i) => fieldBytes[(i * 7 + length) % fieldBytes.length]!)).toString('latin1');
      const other = [...value].reverse().join('');
      const name = 'N'.repeat(length);
      const r = feed('response', enc(`HTTP/1.1 200 OK\r\n${name}: ${value}\r\nY: ${other}\r\n\r\n`));
      assert.ok(r.state === 'complete', `length ${length}`);
      assert.deepEqual(r.head.rawHeaders, [name, value, 'Y', other], `length ${length}`);
    }
  });

  it('accepts a status line without a reason phrase', () => {
    for (const line of ['HTTP/1.1 101', 'HTTP/1.1 101 ']) {
      const r = feed('response', enc(`${line}\r\n\r\n`));
      assert.ok(r.state === 'complete', line);
      assert.deepEqual(r.head.startLine, ['HTTP/1.1', '101', '']);
    }
  });

  it('skips empty lines before a request line (section 3.5) but not before a status line', () => {
    const r = feed('request', enc('\r\n\r\nGET / HTTP/1.1\r\n\r\n'));
    assert.ok(r.state === 'complete');
    assert.equal(errorOf(feed('response', enc('\r\nHTTP/1.1 101 OK\r\n\r\n'))).status, 400);
  });

  it('keeps a header named __proto__ as a header', () => {
    const r = feed('response', enc('HTTP/1.1 200 OK\r\n__proto__: x\r\nconstructor: y\r\n\r\n'));
    assert.ok(r.state === 'complete');
    assert.equal(r.head.headers['__proto__'], 'x');
    assert.equal(r.head.headers['constructor'], 'y');
    assert.equal(Object.getPrototypeOf(r.head.headers), null);
  });

  it('finds no inherited names in the headers, whether the head sends only common names or others too', () => {
    const inherited = ['toString', 'valueOf', 'hasOwnProperty', 'constructor', '__proto__', '__defineGetter__'];
    // Only names of the parser's known list: the fast-property object.
    const common = feed('request', enc('GET / HTTP/1.1\r\nHost: a\r\nOrigin: http://a\r\nupgrade: websocket\r\n\r\n'));
    assert.ok(common.state === 'complete');
    assert.equal(Object.getPrototypeOf(common.head.headers), null);
    for (const name of inherited) assert.equal(name in common.head.headers, false, name);
    assert.deepEqual(Object.keys(common.head.headers), ['host', 'origin', 'upgrade']);
    // Another name after known ones: the fields so far move to a hash table, in order, and go on.
    const mixed = feed('request', enc('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nX-Custom: 1\r\nOrigin: o\r\nupgrade: again\r\nConstructor: y\r\n\r\n'), [30, 7]);
    assert.ok(mixed.state === 'complete');
    const headers = mixed.head.headers;
    assert.equal(Object.getPrototypeOf(headers), null);
    assert.deepEqual({ ...headers }, { host: 'a', upgrade: 'websocket, again', 'x-custom': '1', origin: 'o', constructor: 'y' });
    assert.deepEqual(Object.keys(headers), ['host', 'upgrade', 'x-custom', 'origin', 'constructor']);
    for (const name of inherited.filter((n) => n !== 'constructor')) assert.equal(name in headers, false, name);
    // Names like Object.prototype's members, sent while the head is being read, are headers too.
    const split = feed('request', enc('GET / HTTP/1.1\r\ntoString: 1\r\nhasOwnProperty: 2\r\ntostring: 3\r\n\r\n'), [20, 9, 30]);
    assert.ok(split.state === 'complete');
    assert.deepEqual({ ...split.head.headers }, { tostring: '1, 3', hasownproperty: '2' });
  });
});

describe('RFC 7230 section 3.2: malformed heads are 400', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['no colon', 'HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n', /colon/],
    ['whitespace before the colon', 'HTTP/1.1 101 OK\r\nUpgrade : websocket\r\n\r\n', /whitespace/],
    ['tab before the colon', 'HTTP/1.1 101 OK\r\nUpgrade\t: websocket\r\n\r\n', /whitespace/],
    ['name not a token', 'HTTP/1.1 101 OK\r\nUp(grade): websocket\r\n\r\n', /token/],
    ['non-ASCII name', 'HTTP/1.1 101 OK\r\nUpgr\u00e9de: websocket\r\n\r\n', /token/],
    ['empty name', 'HTTP/1.1 101 OK\r\n: websocket\r\n\r\n', /empty name/],
    ['obs-fold', 'HTTP/1.1 101 OK\r\nUpgrade: web\r\n socket\r\n\r\n', /obs-fold/],
    ['obs-fold with a tab', 'HTTP/1.1 101 OK\r\nUpgrade: web\r\n\tsocket\r\n\r\n', /obs-fold/],
    ['bare LF', 'HTTP/1.1 101 OK\nUpgrade: websocket\n\n', /bare LF/],
    ['bare LF at the end', 'HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\n', /bare LF/],
    ['bare CR', 'HTTP/1.1 101 OK\rUpgrade: websocket\r\n\r\n', /CR not followed by LF/],
    ['NUL in a value', 'HTTP/1.1 101 OK\r\nUpgrade: web\0socket\r\n\r\n', /control/],
    ['DEL in a value', 'HTTP/1.1 101 OK\r\nUpgrade: web\x7fsocket\r\n\r\n', /control/],
    ['non-digit status', 'HTTP/1.1 1o1 OK\r\n\r\n', /three digits/],
    ['four-digit status', 'HTTP/1.1 1011 OK\r\n\r\n', /three digits/],
    ['two-digit status', 'HTTP/1.1 10\r\n\r\n', /status line/],
    ['no version', '101 Switching Protocols\r\n\r\n', /status line/],
    ['lower-case version', 'http/1.1 101 OK\r\n\r\n', /status line/],
    ['HTTP/2 version', 'HTTP/2 101 OK\r\n\r\n', /status line/],
    ['control in reason', 'HTTP/1.1 101 O\x01K\r\n\r\n', /reason/],
  ];
  for (const [name, text, reason] of cases) {
    it(`refuses ${name}, in one chunk and byte by byte`, () => {
      const whole = errorOf(feed('response', enc(text)));
      assert.equal(whole.status, 400);
      assert.match(whole.reason, reason);
      assert.deepEqual(feed('response', enc(text), [1]), { state: 'error', ...whole });
    });
  }

  it('refuses malformed request lines', () => {
    for (const line of ['GET  / HTTP/1.1', 'GET /', 'GET / HTTP/1.1 x', 'G(T / HTTP/1.1', ' GET / HTTP/1.1', 'GET / HTTP/1', 'GET /a\x01 HTTP/1.1', 'GET / http/1.1', '/ HTTP/1.1']) {
      assert.equal(errorOf(feed('request', enc(`${line}\r\nHost: x\r\n\r\n`))).status, 400, JSON.stringify(line));
    }
  });

  it('keeps answering the same error after one', () => {
    const parser = new HttpHeadParser('response');
    const first = parser.push(enc('HTTP/1.1 101 OK\r\nbad\r\n'));
    assert.equal(first.state, 'error');
    assert.deepEqual(parser.push(enc('\r\n')), first);
  });

  it('never throws on random bytes, and answers 400 or 431 when it fails', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 5 }), (junk, sizes) => {
        for (const kind of ['request', 'response'] as const) {
          const r = feed(kind, junk, sizes, { maxHeadSize: 150 });
          if (r.state === 'error') assert.ok(r.status === 400 || r.status === 431);
        }
      }),
    );
    const alphabet = fc.constantFrom(...enc('HTTP/1.1 101 GET / a:b\r\n\t\0\x80'));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 200 }), (bytes) => {
        feed('response', new Uint8Array([...enc('HTTP/1.1 101 OK\r\n'), ...bytes]), [3]);
        feed('request', new Uint8Array([...enc('GET / HTTP/1.1\r\n'), ...bytes]), [3]);
      }),
    );
  });
});

describe('Limits: 431 when the head is too large', () => {
  it('defaults to 16 KiB and 100 header fields', () => {
    assert.equal(DEFAULT_MAX_HEAD_SIZE, 16384);
    const fields = Array.from({ length: 100 }, (_, i) => `X-${i}: v\r\n`).join('');
    assert.equal(feed('response', enc(`HTTP/1.1 101 OK\r\n${fields}\r\n`)).state, 'complete');
    const r = errorOf(feed('response', enc(`HTTP/1.1 101 OK\r\n${fields}X-100: v\r\n\r\n`)));
    assert.equal(r.status, 431);
    assert.match(r.reason, /100 header fields/);
  });

  it('counts every byte of the head, final CRLF included', () => {
    const head = 'HTTP/1.1 101 OK\r\nA: b\r\n\r\n';
    assert.equal(feed('response', enc(head + 'rest'), [1], { maxHeadSize: head.length }).state, 'complete');
    assert.equal(errorOf(feed('response', enc(head), [1], { maxHeadSize: head.length - 1 })).status, 431);
    assert.equal(errorOf(feed('response', enc(head), undefined, { maxHeadSize: head.length - 1 })).status, 431);
  });

  it('stops a head that never ends at the limit, without holding more than the limit', () => {
    const parser = new HttpHeadParser('response', { maxHeadSize: 1000 });
    parser.push(enc('HTTP/1.1 101 OK\r\nX: '));
    let result: HttpHeadResult = { state: 'incomplete' };
    let fed = 0;
    while (result.state === 'incomplete' && fed < 10_000) {
      result = parser.push(enc('aaaaaaaaaa'));
      fed += 10;
    }
    assert.equal(errorOf(result).status, 431);
    assert.ok(fed <= 1000);
  });

  it('applies the header count limit given', () => {
    assert.equal(errorOf(feed('response', enc('HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\n\r\n'), undefined, { maxHeaderCount: 1 })).status, 431);
    assert.equal(feed('response', enc('HTTP/1.1 101 OK\r\n\r\n'), undefined, { maxHeaderCount: 0 }).state, 'complete');
  });

  it('refuses limits that are not positive integers', () => {
    for (const limits of [{ maxHeadSize: 0 }, { maxHeadSize: -1 }, { maxHeadSize: 1.5 }, { maxHeadSize: NaN }, { maxHeaderCount: -1 }, { maxHeadSize: Infinity }]) {
      assert.throws(() => new HttpHeadParser('response', limits), InvalidArgumentError, JSON.stringify(limits));
    }
  });

  it('stays linear when a large head arrives one byte at a time', () => {
    // 1 MiB of headers, fed byte by byte: a parser that rescanned its buffer for CRLFCRLF on
    // every push would do about 5 * 10^11 steps here.
    const line = `X-Long: ${'v'.repeat(1000)}\r\n`;
    const text = `HTTP/1.1 101 OK\r\n${line.repeat(1024)}\r\n`;
    const bytes = enc(text);
    const limits = { maxHeadSize: bytes.length, maxHeaderCount: 2000 };
    const start = performance.now();
    const parser = new HttpHeadParser('response', limits);
    let r: HttpHeadResult = { state: 'incomplete' };
    for (let i = 0; i < bytes.length; i++) r = parser.push(bytes.subarray(i, i + 1));
    const ms = performance.now() - start;
    assert.equal(r.state, 'complete');
    assert.ok(ms < 2000, `took ${ms} ms`);
    // And a single 1 MiB line, in one push.
    const single = enc(`HTTP/1.1 101 OK\r\nX: ${'v'.repeat(1024 * 1024)}\r\n\r\n`);
    const t2 = performance.now();
    const r2 = new HttpHeadParser('response', { maxHeadSize: single.length }).push(single);
    assert.equal(r2.state, 'complete');
    assert.ok(performance.now() - t2 < 1000);
  });
});
