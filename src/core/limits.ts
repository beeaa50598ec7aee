/**
 * Default limits of the protocol core, in one place. Each is a defence against a hostile peer
 * that costs a legitimate one nothing; every one can be changed per connection.
 */
import { InvalidArgumentError } from './errors.js';

/** Largest message accepted, in bytes (after decompression): 1 MiB, as Python `websockets`. */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;

/** Largest single frame accepted, in bytes. Defaults to the message limit: a frame is never larger than its message. */
export const DEFAULT_MAX_FRAME_SIZE = DEFAULT_MAX_MESSAGE_SIZE;

/**
 * Most fragments one message may have. Conformance suites send 4 MiB as 65,536 fragments of 64
 * bytes, so this must stay well above that; fragments are stored compactly so the bound is about
 * CPU, not memory.
 */
export const DEFAULT_MAX_FRAGMENTS = 262_144;

/** Control frame payloads are at most 125 bytes (RFC 6455 section 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A close reason is at most 123 bytes: 125 minus the 2-byte status code (section 5.5.1). */
export const MAX_CLOSE_REASON = 123;

/** Answer pings automatically by default: RFC 6455 section 5.5.2 says an endpoint MUST answer a ping with a pong. */
export const DEFAULT_AUTO_PONG = true;

/** The options the core's connection takes that have a default and a rule, as given (unchecked). */
export interface CoreLimitOptions {
  maxFrameSize?: number;
  maxMessageSize?: number;
  maxFragments?: number;
  autoPong?: boolean;
}

/** CoreLimitOptions checked and with every default applied. */
export interface CoreLimits {
  maxFrameSize: number;
  maxMessageSize: number;
  maxFragments: number;
  autoPong: boolean;
}

/**
 * A byte or count bound: an integer of at least `min`, or Infinity for no bound. Fractions are
 * refused because a bound of 1.5 bytes or fragments has no meaning a user could intend.
 */
function limit(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new InvalidArgumentError(`${name} must be an integer of at least ${min} (or Infinity), got ${describe(value)}`);
  }
  return value;
}

/** A value as an error message shows it: strings quoted, so that '5' and 5 read differently. */
function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * The core's rules for its limits, in one place: the connection applies them to its own options,
 * and the layers above call this before any network so that a bad limit fails at construction.
 * Throws InvalidArgumentError naming the first bad option.
 */
export function resolveCoreLimits(options: CoreLimitOptions): CoreLimits {
  const autoPong = options.autoPong;
  if (autoPong !== undefined && typeof autoPong !== 'boolean') {
    throw new InvalidArgumentError(`autoPong must be a boolean, got ${describe(autoPong)}`);
  }
  return {
    maxFrameSize: limit('maxFrameSize', options.maxFrameSize, DEFAULT_MAX_FRAME_SIZE, 0),
    maxMessageSize: limit('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE, 0),
    // At least one: a message is at least one frame.
    maxFragments: limit('maxFragments', options.maxFragments, DEFAULT_MAX_FRAGMENTS, 1),
    autoPong: autoPong ?? DEFAULT_AUTO_PONG,
  };
}
