/**
 * Default limits of the protocol core, in one place. Each is a defence against a hostile peer
 * that costs a legitimate one nothing; every one can be changed per connection.
 */

/** Largest message accepted, in bytes (after decompression): 1 MiB, as the CHICKEN seed and Python `websockets`. */
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
