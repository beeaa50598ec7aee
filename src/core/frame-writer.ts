/**
 * The frame writer: turns a payload into the chunks of one frame (RFC 6455 section 5.2) for the
 * transport. It builds headers, masks what a client sends (section 5.3) and decides how the
 * payload travels: copied behind its header in a per-connection slab when small, as the caller's
 * own array behind a header chunk when large and unmasked, masked into memory from the injected
 * allocator when large and masked. It knows nothing of connection state: the Connection decides
 * what may be sent.
 */
import { InvalidArgumentError } from './errors.js';
import { frameHeaderSize, writeFrameHeaderAt } from './frame.js';
import { maskInto, maskWord, writeMaskKey } from './mask.js';

/**
 * Allocates an array the core overwrites entirely before anyone else sees it (see
 * ConnectionOptions.allocate): `output` true for a masked frame too large for the slab.
 */
export type Allocate = (size: number, output: boolean) => Uint8Array;

/**
 * Writes `source` XOR the key word `word` (see `maskWord`) into `target` from `targetOffset`, where
 * `target` is an output array from the allocator (see ConnectionOptions.maskOutput).
 */
export type MaskInto = (source: Uint8Array, word: number, target: Uint8Array, targetOffset: number) => void;

/** The least an output allocation may return (see ConnectionOptions.allocate): room for any header and then some. */
export const MIN_OUTPUT_CHUNK = 1024;

const EMPTY = new Uint8Array(0);
const EMPTY_BUFFER = EMPTY.buffer;

/**
 * Unmasked payloads up to this size are copied behind their header into the slab, giving one
 * chunk: a small copy costs less than a second chunk through the transport's write path.
 */
const MERGE_THRESHOLD = 256;
/**
 * Masked payloads need a copy anyway; up to this size it goes into the slab, which is cheaper
 * than allocating (and zero-filling) an array per frame.
 */
const MERGE_MASKED_THRESHOLD = 4096;
/** Below this many bytes a loop copies faster than TypedArray.prototype.set. */
const SET_THRESHOLD = 32;

/**
 * Sizes of the per-connection slab that frame headers and small frames are cut from: the first
 * is small so that a mostly idle connection holds little, each next one doubles up to the largest.
 */
const SLAB_FIRST = 1024;
const SLAB_LARGEST = 16384;

/** Writes the frames of one connection; `masking` is fixed by its role (a client masks). */
export class FrameWriter {
  private readonly masking: boolean;
  private readonly maskKeySource: (() => Uint8Array) | undefined;
  private readonly allocate: Allocate;
  private readonly maskOutput: MaskInto;
  /**
   * The key of the frame being masked (one array, reused: no allocation per frame). Made on the
   * first masked frame: a server never masks, and an idle connection should hold little.
   */
  private key: Uint8Array | null = null;
  /** Output slab and the start of its unused part (see reserve). */
  private slab: Uint8Array = EMPTY;
  /** The slab's ArrayBuffer, kept: `slab.buffer` is a call into the runtime each time (issue 24). */
  private slabBuffer: ArrayBufferLike = EMPTY_BUFFER;
  private slabOffset = 0;

  constructor(masking: boolean, allocate: Allocate, maskOutput: MaskInto, maskKeySource: (() => Uint8Array) | undefined) {
    this.masking = masking;
    this.allocate = allocate;
    this.maskOutput = maskOutput;
    this.maskKeySource = maskKeySource;
  }

  /** Bytes a frame with this payload takes on the wire: its header and the payload. */
  frameSize(payloadLength: number): number {
    return frameHeaderSize(payloadLength, this.masking) + payloadLength;
  }

  /**
   * Reserves `size` bytes of the output slab and returns their offset. Headers and small frames
   * are cut from one per-connection slab rather than allocated one by one: a fresh off-heap array
   * per frame (or the on-heap one V8 makes for tiny arrays, which the transport then has to move
   * off-heap) costs more than the frame. A reserved region is never written again once handed out.
   */
  private reserve(size: number): number {
    let at = this.slabOffset;
    const slab = this.slab;
    if (at + size > slab.length) {
      const next = slab.length === 0 ? SLAB_FIRST : Math.min(slab.length * 2, SLAB_LARGEST);
      this.slab = new Uint8Array(next < size ? size : next);
      this.slabBuffer = this.slab.buffer;
      at = 0;
    }
    this.slabOffset = at + size;
    return at;
  }

  /** An output array from `allocate`, checked: at least min(size, MIN_OUTPUT_CHUNK) bytes, at most size. */
  private outputChunk(size: number): Uint8Array {
    const out = this.allocate(size, true);
    if (!(out instanceof Uint8Array) || out.length > size || out.length < Math.min(size, MIN_OUTPUT_CHUNK)) {
      throw new InvalidArgumentError(`allocate(${size}, true) returned ${out instanceof Uint8Array ? `${out.length} bytes` : 'no Uint8Array'}`);
    }
    return out;
  }

  /** The masking key for the next frame, in `this.key` (RFC 6455 section 5.3: fresh and unpredictable per frame). */
  private nextKey(): Uint8Array {
    const key = (this.key ??= new Uint8Array(4));
    const source = this.maskKeySource;
    if (source === undefined) {
      writeMaskKey(key, 0);
    } else {
      const given = source();
      if (!(given instanceof Uint8Array) || given.length !== 4) throw new InvalidArgumentError('maskKey() must return 4 bytes');
      key.set(given);
    }
    return key;
  }

  /** The slab's ArrayBuffer: where `slabFrame` writes (read it after the call; a full slab is replaced). */
  get slabArrayBuffer(): ArrayBufferLike {
    return this.slabBuffer;
  }

  /** The end of the bytes `slabFrame` wrote last: they are [its result, slabEnd) of `slabArrayBuffer`. */
  get slabEnd(): number {
    return this.slabOffset;
  }

  /**
   * Writes one frame into the slab when it belongs there (a small one: see MERGE_THRESHOLD and
   * MERGE_MASKED_THRESHOLD) and returns its offset in `slabArrayBuffer`, the frame ending at
   * `slabEnd`; -1, with nothing written, for a larger frame, which `frame` writes. A caller whose
   * transport takes byte ranges hands these on without a view per frame
   * (ConnectionHandler.outputRange, issue 24: most echoes and replies).
   */
  slabFrame(opcode: number, payload: Uint8Array, fin: boolean, rsv: number): number {
    const length = payload.length;
    // Section 5.3: a client MUST mask every frame it sends; a server MUST NOT mask.
    const masked = this.masking;
    if (!masked && length < 126) {
      // A server's small frame (most echoes and replies): the two header bytes and the payload
      // written here, without the calls the general path makes per frame (header size, header
      // writer), which V8 does not inline this deep in the send path.
      const at = this.reserve(length + 2);
      const slab = this.slab;
      slab[at] = (fin ? 0x80 : 0) | rsv | opcode;
      slab[at + 1] = length;
      if (length < SET_THRESHOLD) for (let i = 0, o = at + 2; i < length; i++) slab[o + i] = payload[i]!;
      else slab.set(payload, at + 2);
      return at;
    }
    if (length > (masked ? MERGE_MASKED_THRESHOLD : MERGE_THRESHOLD)) return -1;
    const headerSize = frameHeaderSize(length, masked);
    const at = this.reserve(headerSize + length);
    const slab = this.slab;
    writeFrameHeaderAt(slab, at, (fin ? 0x80 : 0) | rsv | opcode, length, masked);
    if (masked) {
      const key = this.nextKey();
      const k = at + headerSize - 4;
      slab[k] = key[0]!;
      slab[k + 1] = key[1]!;
      slab[k + 2] = key[2]!;
      slab[k + 3] = key[3]!;
      maskInto(payload, key, slab, at + headerSize);
    } else if (length < SET_THRESHOLD) {
      for (let i = 0, o = at + headerSize; i < length; i++) slab[o + i] = payload[i]!;
    } else {
      slab.set(payload, at + headerSize);
    }
    return at;
  }

  /**
   * Appends one frame to `chunks`: one chunk when masked (the payload is masked into a copy, so the
   * caller's buffer is never altered) or small; else a header chunk and the caller's payload itself.
   */
  frame(chunks: Uint8Array[], opcode: number, payload: Uint8Array, fin: boolean, rsv: number): void {
    const inSlab = this.slabFrame(opcode, payload, fin, rsv);
    if (inSlab !== -1) {
      // The constructor, not subarray: it skips the species lookup and measured twice as fast.
      chunks.push(new Uint8Array(this.slabBuffer, inSlab, this.slabOffset - inSlab));
      return;
    }
    const length = payload.length;
    const masked = this.masking;
    const headerSize = frameHeaderSize(length, masked);
    const first = (fin ? 0x80 : 0) | rsv | opcode;
    if (masked) {
      // Every byte of every chunk is written below: header, key, masked payload.
      let out = this.outputChunk(headerSize + length);
      writeFrameHeaderAt(out, 0, first, length, true);
      const key = this.nextKey();
      out.set(key, headerSize - 4);
      const mask = this.maskOutput;
      let done = out.length - headerSize;
      mask(payload.subarray(0, done), maskWord(key, 0), out, headerSize);
      chunks.push(out);
      // The rest, when the allocator gave less than the whole frame.
      while (done < length) {
        out = this.outputChunk(length - done);
        mask(payload.subarray(done, done + out.length), maskWord(key, done), out, 0);
        done += out.length;
        chunks.push(out);
      }
    } else {
      const at = this.reserve(headerSize);
      writeFrameHeaderAt(this.slab, at, first, length, false);
      chunks.push(new Uint8Array(this.slabBuffer, at, headerSize), payload);
    }
  }
}

/** Bytes a control frame with `payloadLength` bytes of payload (at most 125) takes on the wire. */
export function controlFrameSize(payloadLength: number, masked: boolean): number {
  return (masked ? 6 : 2) + payloadLength;
}

/**
 * One control frame (ping, pong or close; the caller has checked that the payload is at most 125
 * bytes) in an array of exactly its size, not cut from a writer's slab (perf-mem2, issue 24):
 * keep-alive pings and their pongs are what an idle connection sends, and it should not make and
 * keep a slab (and a FrameWriter) for them. Control frames are rare, so an array each costs
 * nothing that matters. Masked with a fresh key when `masked` (section 5.3).
 */
export function controlFrame(opcode: number, payload: Uint8Array, masked: boolean, maskKeySource: (() => Uint8Array) | undefined): Uint8Array {
  const length = payload.length;
  const out = new Uint8Array(controlFrameSize(length, masked));
  out[0] = 0x80 | opcode;
  if (!masked) {
    out[1] = length;
    out.set(payload, 2);
    return out;
  }
  out[1] = 0x80 | length;
  if (maskKeySource === undefined) {
    writeMaskKey(out, 2);
  } else {
    const given = maskKeySource();
    if (!(given instanceof Uint8Array) || given.length !== 4) throw new InvalidArgumentError('maskKey() must return 4 bytes');
    out.set(given, 2);
  }
  maskInto(payload, out.subarray(2, 6), out, 6);
  return out;
}
