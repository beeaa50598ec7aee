/**
 * Buffer views of received chunks (issue 24, small messages): the core's parser hands out every
 * message that arrived whole as a view of its read (ConnectionOptions.view), and the API promises
 * a Buffer. `Buffer#subarray`, the parser's default, asks its chunk for the chunk's ArrayBuffer
 * (a call into the runtime) for every view; the parser asks once per read and makes each view
 * from it here.
 *
 * Tried and dropped: a subclass of Uint8Array with Buffer.prototype in its chain, a third of the
 * cost, fails `assert.deepStrictEqual(message, Buffer.from(...))` (its prototype is not
 * Buffer.prototype), which users' tests do; `Reflect.construct(Uint8Array, args, F)` with
 * F.prototype = Buffer.prototype is twenty times slower than both.
 */
import { Buffer } from 'node:buffer';
import type { ViewMaker } from '../core/frame-parser.js';

/** A Buffer of `length` bytes of `buffer` from `byteOffset` (ConnectionOptions.view for Node streams). */
export const bufferView: ViewMaker = (buffer, byteOffset, length) => Buffer.from(buffer, byteOffset, length);
