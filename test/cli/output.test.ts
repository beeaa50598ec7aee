import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeClose, formatBinary, isCleanClose, paletteFor, parseHex, payloadOf, sanitizeForTerminal } from '../../src/cli/output.js';

describe('binary messages shown as text', () => {
  const bytes = Uint8Array.from([0x00, 0x68, 0x69, 0xff]);
  it('as hex and as base64', () => {
    assert.equal(formatBinary(bytes, 'hex'), '006869ff');
    assert.equal(formatBinary(bytes, 'base64'), 'AGhp/w==');
  });
  it('uses only the view it is given, not the whole underlying buffer', () => {
    const view = new Uint8Array(Uint8Array.from([1, 2, 3, 4]).buffer, 1, 2);
    assert.equal(formatBinary(view, 'hex'), '0203');
  });
  it('reads /hex input back, with or without separators', () => {
    assert.deepEqual(parseHex('006869ff'), bytes);
    assert.deepEqual(parseHex('00 68:69 FF'), bytes);
    assert.equal(parseHex('abc'), null);
    assert.equal(parseHex('zz'), null);
  });
});

describe('close codes (RFC 6455 section 7.4)', () => {
  it('are named, and the reason quoted', () => {
    assert.equal(describeClose(1000, ''), '1000 (normal closure)');
    assert.equal(describeClose(1001, 'bye'), '1001 (going away) "bye"');
    assert.equal(describeClose(1006, ''), '1006 (abnormal closure, no close frame)');
    assert.equal(describeClose(4001, 'x'), '4001 (application) "x"');
    assert.equal(describeClose(3000, ''), '3000 (registered)');
  });
  it('count as clean only for normal endings', () => {
    assert.ok(isCleanClose(1000) && isCleanClose(1001) && isCleanClose(1005));
    for (const code of [1002, 1003, 1006, 1007, 1008, 1009, 1011, 4000]) assert.equal(isCleanClose(code), false, String(code));
  });
});

describe('colours', () => {
  it('are on for a terminal and off for a pipe', () => {
    assert.equal(paletteFor({ isTTY: true }, false, {}).red('x'), '\x1b[31mx\x1b[39m');
    assert.equal(paletteFor({ isTTY: false }, false, {}).red('x'), 'x');
    assert.equal(paletteFor({}, false, {}).red('x'), 'x');
  });
  it('honour NO_COLOR, --no-color and FORCE_COLOR', () => {
    assert.equal(paletteFor({ isTTY: true }, false, { NO_COLOR: '1' }).red('x'), 'x');
    assert.equal(paletteFor({ isTTY: true }, true, {}).red('x'), 'x');
    assert.equal(paletteFor({ isTTY: false }, false, { FORCE_COLOR: '1' }).red('x'), '\x1b[31mx\x1b[39m');
  });
});

describe('peer text on a terminal', () => {
  it('cannot carry escape sequences or other controls', () => {
    assert.equal(sanitizeForTerminal('hi\x1b]0;owned\x07'), 'hi\\x1b]0;owned\\x07');
    assert.equal(sanitizeForTerminal('a\rb\x9bc\x7f'), 'a\\x0db\\x9bc\\x7f');
  });
  it('keeps ordinary text, tabs, newlines and non-ASCII as they are', () => {
    const text = 'tab\there\nnext line: héllo 👋';
    assert.equal(sanitizeForTerminal(text), text);
  });
});

describe('received payloads', () => {
  it('become text or bytes whatever shape they arrive in', () => {
    assert.deepEqual(payloadOf('hi', false), { text: 'hi' });
    assert.deepEqual(payloadOf(Buffer.from('hé'), false), { text: 'hé' });
    assert.deepEqual(payloadOf(Buffer.from([1, 2]), true), { bytes: Buffer.from([1, 2]) });
    assert.deepEqual(payloadOf(new Uint8Array([1, 2]).buffer, true), { bytes: new Uint8Array([1, 2]) });
    assert.deepEqual(payloadOf([Buffer.from('a'), Buffer.from('b')], false), { text: 'ab' });
  });
});
