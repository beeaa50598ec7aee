/**
 * Where a client socket reads into (net.Socket's `onread` option). Node's own reads go into a
 * fresh 64 KiB buffer each, shrunk to what arrived. That splits every frame larger than 64 KiB
 * across reads, and the receiver then copies the pieces together: a 64 KiB message is 10 bytes
 * too long for one read. Reading large bursts into larger buffers lets whole frames arrive in one
 * read and be handed on as views, without a copy, in fewer system calls.
 *
 * Memory decides the rest. A buffer set aside for a socket's next read stays with it until that
 * read happens, however long the socket then stays idle; so only a socket that is receiving a
 * burst reads into a buffer of its own. Every other socket reads into one buffer shared by all of
 * them, and what arrives there is copied out at once, exactly as long as it is.
 *
 * The rest of a large frame is read straight into the message it belongs to, when the socket's
 * driver has it to offer (Connection.receiveTarget): no copy at all, and reads as large as the
 * kernel can fill.
 *
 * A chunk handed on is never written to again, as the receive path requires (it unmasks and
 * delivers views in place): the shared buffer's bytes are always copied out, a socket's own
 * buffer is either copied out of (and read into again) or handed on (and replaced by a fresh
 * one), and a message's memory is read into only where its bytes have not arrived yet.
 */
import { Buffer } from 'node:buffer';
import { connect, type OnReadOpts, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** The buffer shared by every socket that is not receiving a burst: Node's own read size. */
const SHARED_SIZE = 64 * 1024;
/** A read of at least this much into the shared buffer starts a burst: the peer is sending large frames. */
const BURST_READ = SHARED_SIZE / 2;
/** A socket's own buffer starts at twice the shared one... */
const OWN_MIN = 2 * SHARED_SIZE;
/** ...and doubles while reads fill it, up to this: the most an idle socket can hold until its next read. */
const OWN_MAX = 256 * 1024;
/**
 * A read into a socket's own buffer smaller than this is copied out, and the buffer kept for the
 * next read: a small chunk does not keep a large buffer alive. Two such reads in a row end the burst.
 */
const SMALL_READ = OWN_MIN / 4;

let shared: Buffer | null = null;

/** Where a stream dialed with connectBurstReads keeps its reads, for setReadTarget. */
const kBurstReads = Symbol('hybi.burstReads');

/** What offers memory for the next read to go straight into (a socket's driver). */
interface ReadTarget {
  /** The memory, or null for the usual buffers (see Connection.receiveTarget). */
  readTarget(): Uint8Array | null;
}

/** Reads of one socket: the shared buffer until a large read, then buffers of the socket's own while bursts last. */
export class BurstReads {
  /** Size of the socket's own buffer for the next read; 0 while it reads into the shared one. */
  private size = 0;
  /** The socket's own buffer for the next read, when the last read was copied out of it (null: a fresh one). */
  private own: Buffer | null = null;
  /** Small reads in a row into the socket's own buffers. */
  private smallReads = 0;
  /** The socket's driver, offering the rest of a large frame (set once a driver owns the socket). */
  target: ReadTarget | null = null;
  /** The message memory the next read goes into, if any. */
  private direct: Uint8Array | null = null;

  /** The buffer for the next read (onread.buffer: Node calls it once at the start and after every read). */
  next(): Uint8Array {
    const direct = this.target === null ? null : this.target.readTarget();
    if (direct !== null) return (this.direct = direct);
    if (this.size === 0) return (shared ??= Buffer.allocUnsafeSlow(SHARED_SIZE));
    return (this.own ??= Buffer.allocUnsafeSlow(this.size));
  }

  /** The first `n` bytes of `buffer` arrived: the chunk to hand on, and where the next read goes. */
  take(n: number, buffer: Uint8Array): Buffer {
    if (buffer === this.direct) {
      // Read into its place in a message: handed on as a view of it, which the receiver recognises.
      this.direct = null;
      return Buffer.from(buffer.buffer, buffer.byteOffset, n);
    }
    if (buffer === shared) {
      // A large read: the peer sends large frames. The next read gets a buffer of the socket's own.
      if (n >= BURST_READ) this.size = OWN_MIN;
      return copyOut(buffer, n);
    }
    const size = buffer.length;
    if (n < SMALL_READ) {
      // Copied out; the buffer serves the next read again. A small read between large ones is
      // usual (the tail of a frame that arrived in two segments); a second one in a row ends the
      // burst, and a socket that then goes idle holds nothing.
      if (++this.smallReads >= 2) {
        this.size = 0;
        this.own = null;
        this.smallReads = 0;
      }
      return copyOut(buffer, n);
    }
    // Handed on as it is (a view keeps at most eight times its bytes alive, and only until the
    // next buffer has followed the reads down), and replaced by a fresh buffer. The next buffer
    // follows the reads: larger after a full one, smaller after one that used less than half.
    this.smallReads = 0;
    this.own = null;
    if (n === size) this.size = Math.min(size * 2, OWN_MAX);
    else if (n * 2 < size) this.size = Math.max(size / 2, OWN_MIN);
    else this.size = size;
    return Buffer.from(buffer.buffer, buffer.byteOffset, n);
  }
}

function copyOut(buffer: Uint8Array, n: number): Buffer {
  const chunk = Buffer.allocUnsafe(n);
  chunk.set(n === buffer.length ? buffer : buffer.subarray(0, n));
  return chunk;
}

/**
 * Opens a TCP connection (net.connect) whose reads follow the rules above. Every read is pushed
 * into the socket's readable side, so 'data', 'readable', read(), pause() and backpressure behave
 * as without them; only the memory the kernel writes into differs.
 */
export function connectBurstReads(host: string, port: number): Socket {
  const reads = new BurstReads();
  const socket = connect({ host, port, onread: burstReads(reads) });
  (socket as Socket & { [kBurstReads]?: BurstReads })[kBurstReads] = reads;
  return socket;
}

/**
 * Lets the reads of a stream from connectBurstReads go straight into the memory `target` offers
 * (null: stop). The target must only offer memory for bytes that can come next on the stream.
 * Any other stream is left as it is.
 */
export function setReadTarget(stream: Duplex, target: ReadTarget | null): void {
  const reads = (stream as Duplex & { [kBurstReads]?: BurstReads })[kBurstReads];
  if (reads !== undefined) reads.target = target;
}

/** The `onread` option over `reads` (exported for tests, which drive it as Node does). */
export function burstReads(reads = new BurstReads()): OnReadOpts {
  return {
    buffer: () => reads.next(),
    // `this` is the socket. Returning false (the readable side is full) stops reading, as Node does.
    callback(this: Socket, n: number, buffer: Uint8Array): boolean {
      return this.push(reads.take(n, buffer));
    },
  };
}
