/**
 * Connection options: one documented default each, and bad values refused with a typed error
 * that names the option.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_STALL_TIMEOUT,
  DEFAULT_MESSAGE_TIMEOUT,
  DEFAULT_PING_INTERVAL,
  DEFAULT_RECEIVE_HIGH_WATER_MARK,
  DEFAULT_RECEIVE_HIGH_WATER_MESSAGES,
  resolveOptions,
} from '../../src/api/options.js';

describe('defaults', () => {
  test('every option has its documented default', () => {
    assert.deepEqual(resolveOptions(), {
      maxFrameSize: 1024 * 1024,
      maxMessageSize: 1024 * 1024,
      maxFragments: 262_144,
      autoPong: true,
      pingInterval: DEFAULT_PING_INTERVAL,
      idleTimeout: DEFAULT_IDLE_TIMEOUT,
      closeTimeout: DEFAULT_CLOSE_TIMEOUT,
      propagateErrors: false,
      receiveHighWaterMark: DEFAULT_RECEIVE_HIGH_WATER_MARK,
      receiveHighWaterMessages: DEFAULT_RECEIVE_HIGH_WATER_MESSAGES,
      messageTimeout: DEFAULT_MESSAGE_TIMEOUT,
      maxBufferedAmount: DEFAULT_MAX_BUFFERED_AMOUNT,
      stallTimeout: DEFAULT_STALL_TIMEOUT,
    });
    assert.equal(DEFAULT_STALL_TIMEOUT, 30_000);
    assert.equal(DEFAULT_MESSAGE_TIMEOUT, 60_000);
    assert.equal(DEFAULT_MAX_BUFFERED_AMOUNT, 4 * 1024 * 1024);
    assert.equal(DEFAULT_PING_INTERVAL, 30_000);
    assert.equal(DEFAULT_IDLE_TIMEOUT, 60_000);
    assert.equal(DEFAULT_CLOSE_TIMEOUT, 5_000);
  });

  test('given values win, 0 disables timers, Infinity lifts size limits; unknown keys are ignored', () => {
    const resolved = resolveOptions({ pingInterval: 0, idleTimeout: 0, maxMessageSize: Infinity, autoPong: false, ...{ compress: true } });
    assert.equal(resolved.pingInterval, 0);
    assert.equal(resolved.idleTimeout, 0);
    assert.equal(resolved.maxMessageSize, Infinity);
    assert.equal(resolved.autoPong, false);
  });
});

describe('validation', () => {
  test('negative, NaN, non-numeric and infinite durations are refused, naming the option', () => {
    for (const [options, name] of [
      [{ closeTimeout: -1 }, 'closeTimeout'],
      [{ pingInterval: Number.NaN }, 'pingInterval'],
      [{ idleTimeout: Infinity }, 'idleTimeout'],
      [{ messageTimeout: -5 }, 'messageTimeout'],
      [{ maxBufferedAmount: -1 }, 'maxBufferedAmount'],
      [{ maxMessageSize: '5' }, 'maxMessageSize'],
      [{ autoPong: 1 }, 'autoPong'],
      [{ propagateErrors: 'yes' }, 'propagateErrors'],
    ] as const) {
      assert.throws(
        () => resolveOptions(options as never),
        (error: unknown) => error instanceof InvalidArgumentError && error.message.startsWith(name),
      );
    }
  });
});
