import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, parseDuration, parseHeader, parseInteger, parseSize, UsageError } from '../../src/cli/units.js';

describe('durations typed on the command line', () => {
  it('reads a bare number as seconds, as wscat and websocat do', () => {
    assert.equal(parseDuration('timeout', '5'), 5000);
    assert.equal(parseDuration('timeout', '0.25'), 250);
    assert.equal(parseDuration('timeout', '0'), 0);
  });
  it('accepts ms, s, m and h suffixes, with or without a space', () => {
    assert.equal(parseDuration('t', '500ms'), 500);
    assert.equal(parseDuration('t', '30s'), 30_000);
    assert.equal(parseDuration('t', '2m'), 120_000);
    assert.equal(parseDuration('t', '1 h'), 3_600_000);
    assert.equal(parseDuration('t', '1.5S'), 1500);
  });
  it('refuses what is not a duration, naming the option', () => {
    for (const bad of ['', 'soon', '-1', '1e3', '5 weeks', '1..2', '.', '0x10']) {
      assert.throws(() => parseDuration('ping-interval', bad), (err: unknown) => err instanceof UsageError && err.message.startsWith('--ping-interval:'), bad);
    }
  });
  it('refuses durations setTimeout would silently shorten to 1 ms', () => {
    assert.throws(() => parseDuration('t', '25d'), UsageError);
    assert.throws(() => parseDuration('t', '600h'), UsageError);
  });
});

describe('sizes typed on the command line', () => {
  it('reads bytes and binary multiples', () => {
    assert.equal(parseSize('s', '65536'), 65536);
    assert.equal(parseSize('s', '64k'), 65536);
    assert.equal(parseSize('s', '16MiB'), 16 * 1024 * 1024);
    assert.equal(parseSize('s', '1.5 KB'), 1536);
    assert.equal(parseSize('s', '1G'), 1024 ** 3);
  });
  it('refuses zero, garbage and unknown units', () => {
    for (const bad of ['0', 'big', '12 parsecs', '-5', '']) assert.throws(() => parseSize('max-message-size', bad), UsageError, bad);
  });
});

describe('whole numbers', () => {
  it('accepts the range and nothing else', () => {
    assert.equal(parseInteger('port', '8080', 0, 65535), 8080);
    assert.equal(parseInteger('port', '0', 0, 65535), 0);
    for (const bad of ['65536', '-1', '80.5', 'http', '', '1e3', ' ']) assert.throws(() => parseInteger('port', bad, 0, 65535), UsageError, bad);
  });
});

describe('-H headers (curl syntax)', () => {
  it('splits at the first colon and trims', () => {
    assert.deepEqual(parseHeader('Authorization: Bearer a:b'), ['Authorization', 'Bearer a:b']);
    assert.deepEqual(parseHeader('X-Empty:'), ['X-Empty', '']);
  });
  it('refuses a name that is not an HTTP token, or no colon at all', () => {
    for (const bad of ['NoColon', ': value', 'Bad Name: x', 'Bad(name): x']) assert.throws(() => parseHeader(bad), UsageError, bad);
  });
  it('refuses a value that would smuggle a second header line', () => {
    assert.throws(() => parseHeader('X-A: 1\r\nX-B: 2'), UsageError);
    assert.throws(() => parseHeader('X-A: 1\nX-B: 2'), UsageError);
    assert.throws(() => parseHeader('X-A: a\0b'), UsageError);
  });
});

describe('numbers shown to people', () => {
  it('formats bytes', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB');
  });
  it('formats durations', () => {
    assert.equal(formatDuration(850), '850ms');
    assert.equal(formatDuration(12_340), '12.3s');
    assert.equal(formatDuration(245_000), '4m05s');
    assert.equal(formatDuration(3_725_000), '1h02m05s');
  });
});
