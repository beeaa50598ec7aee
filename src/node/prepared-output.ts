/**
 * The parts of the output batching (output-batch.ts) that serve frames prepared once for many
 * connections (a server's publish and broadcast, issue 24): the frame being handed out is noted,
 * so that a connection's batch can join two of them through one Buffer shared by every subscriber
 * and holds its chunk without asking V8 for the chunk's ArrayBuffer per subscriber; and the tick
 * batches of all connections end in one process.nextTick.
 */
import { Buffer } from 'node:buffer';
import type { PreparedFrame } from '../core/prepared-frame.js';
import { asBuffer } from './core-memory.js';

/**
 * Frames prepared once for many connections (publish, broadcast; issue 24): when a connection's
 * batch is one such chunk and the next one arrives (two publishes in one tick), the two are
 * joined into one Buffer that every connection receiving the same two shares. The fan-out hands
 * the same pair to each subscriber in turn, so a one-entry cache serves all but the first: one
 * copy per publish instead of a copy buffer per subscriber, and the socket gets a Buffer (no
 * wrapper per write). A joined Buffer is never written into after it is made. Up to this size.
 */
export const SHARED_JOIN_BYTES = 4000;

/**
 * The last frame prepared for many connections that was output (see SocketDriver.sendPrepared)
 * when it is one chunk: its chunks array and that chunk; both null after a frame of several
 * chunks (whose payload may be large, and is not kept here). A fan-out outputs the same frame once
 * per subscriber: reading them once per publish saves, per delivery, a load from the frame's
 * frozen chunks array (which V8 does not inline) and the stores that marking and unmarking the
 * chunk cost. They are not cleared after the fan-out: the chunk is recognised by identity, and
 * output of the same chunk later is the same bytes, so at most one chunk of up to 16 KiB is kept
 * until the next publish.
 */
let lastFrame: PreparedFrame | null = null;
export let preparedChunks: readonly Uint8Array[] | null = null;
export let preparedChunk: Buffer | null = null;
let joinedFirst: Uint8Array | null = null;
let joinedSecond: Uint8Array | null = null;
let joined: Buffer | null = null;

/** @internal Notes `frame`, prepared for many connections, as the one being output (see preparedChunk). */
export function markPrepared(frame: PreparedFrame): void {
  if (frame === lastFrame) return;
  const chunks = frame.chunks;
  const one = chunks.length === 1;
  lastFrame = one ? frame : null;
  preparedChunks = one ? chunks : null;
  // A Buffer: Node's Writable wraps every Uint8Array it is given in a Buffer of its own (asking
  // for `buffer`, `byteOffset` and `byteLength`, getters V8 does not inline, see isSharedRun), so
  // the prepared chunk is wrapped here once per publish, not by the stream once per subscriber.
  preparedChunk = one ? asBuffer(chunks[0]!) : null;
}

/**
 * What a run that is the prepared chunk (or the shared join of two) records as its ArrayBuffer
 * (OutputBatcher.startRun): not the chunk's own, so no chunk ever follows it in memory and the
 * run is never extended in place; the next chunk is joined to it (sharedJoin), copied with it, or
 * starts a run of its own, the same bytes in the same order. Asking the chunk's `.buffer` is a call into V8's runtime, and storing
 * that young ArrayBuffer into each long-lived connection a write barrier's slow path: per
 * delivery, where this constant costs neither (and a chunk held after it is not asked either).
 */
export const PREPARED_RUN: ArrayBufferLike = new ArrayBuffer(0);

/**
 * Whether a run starting with `chunk` is a shared one: the prepared chunk or the shared join. Its
 * run records PREPARED_RUN and no offsets (it is never extended), so a delivery asks `chunk` for
 * none of `buffer`, `byteOffset` or `byteLength`: Node 20's V8 does not inline those getters when
 * it compiles concurrently, as it does by default (each is then a call through a LoadIC, 7 to 20
 * ns), where it does inline `length`. Under `--predictable` it inlines them all, so instruction
 * counts made that way (bench/README.md) do not see this.
 */
export function isSharedRun(chunk: Uint8Array): boolean {
  return chunk === preparedChunk || chunk === joined;
}

/** Whether `chunk` follows, in memory, the run ending at `runEnd` of `runBuffer` (never one of PREPARED_RUN). */
export function followsRun(chunk: Uint8Array, runBuffer: ArrayBufferLike | null, runEnd: number): boolean {
  return runBuffer !== null && runBuffer !== PREPARED_RUN && runBuffer === chunk.buffer && runEnd === chunk.byteOffset;
}

/** `first` then `second` in one Buffer, the one made for the last such pair when it is the same pair. */
export function sharedJoin(first: Uint8Array, second: Uint8Array): Buffer {
  if (first === joinedFirst && second === joinedSecond) return joined!;
  const both = Buffer.allocUnsafe(first.length + second.length);
  both.set(first, 0);
  both.set(second, first.length);
  joinedFirst = first;
  joinedSecond = second;
  return (joined = both);
}

/** A batch that ends at the end of the tick (see OutputBatcher.openTickBatch). */
interface TickBatch {
  endBatch(): void;
}

/**
 * Connections whose tick batch is open, in the order they opened it: all of them end in one
 * process.nextTick (issue 24), not one each; a fan-out to 1,000 connections queued 1,000.
 */
let tickBatches: (TickBatch | null)[] = [];
/** How many entries of tickBatches this tick's are. */
let tickCount = 0;
/**
 * The array of the tick before, its entries cleared, taken again for the next tick: a fresh one
 * per tick (or one emptied by `length = 0`, which drops its storage) grew from nothing through
 * every push of a fan-out, one call into V8's generic push per connection per tick. It keeps the
 * largest size a tick needed (a word per connection), holding no connection.
 */
let spareBatches: (TickBatch | null)[] = [];

/** @internal Ends `batch` with the others of this tick, in the order they were opened. */
export function endInOneTick(batch: TickBatch): void {
  tickBatches[tickCount] = batch;
  if (++tickCount === 1) process.nextTick(endTickBatches);
}

/** Ends the batches sends opened outside any read (see OutputBatcher.openTickBatch). */
function endTickBatches(): void {
  const batches = tickBatches;
  const count = tickCount;
  tickBatches = spareBatches;
  tickCount = 0;
  let i = 0;
  try {
    for (; i < count; i++) {
      const batch = batches[i]!;
      batches[i] = null;
      batch.endBatch();
    }
  } finally {
    // One that threw must not leave the others' output held: they end in a tick of their own.
    for (i++; i < count; i++) {
      const rest = batches[i]!;
      batches[i] = null;
      process.nextTick(() => rest.endBatch());
    }
    spareBatches = batches;
  }
}
