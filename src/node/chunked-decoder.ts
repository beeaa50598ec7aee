/**
 * Decoding HTTP/1.1 chunked transfer coding, for the body of a refusal that a client shows its
 * user (a 401 or 403 page sent chunked).
 */
import { concatBytes } from './concat-bytes.js';

const enum ChunkState {
  Size,
  Extension,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  Trailer,
  Done,
}

/** Longest chunk-size line we accept in hex digits: 13 digits exceed any length we would keep. */
const MAX_SIZE_DIGITS = 13;

/**
 * Decodes HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1) incrementally, one byte state
 * at a time, so chunk boundaries may fall anywhere. Extensions and trailers are skipped; a
 * malformed stream simply ends the body (`done`), since the body is only shown to a user.
 */
export class ChunkedDecoder {
  private state = ChunkState.Size;
  private remaining = 0;
  private digits = 0;
  /** Characters of the current trailer line, to find the empty line that ends the message. */
  private lineLength = 0;

  /** True once the last chunk (and its trailers) was read, or the coding was malformed. */
  get done(): boolean {
    return this.state === ChunkState.Done;
  }

  /** Feeds encoded bytes; returns the body bytes they carried (views into `input` where possible). */
  push(input: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    let total = 0;
    let i = 0;
    while (i < input.length && this.state !== ChunkState.Done) {
      if (this.state === ChunkState.Data) {
        const n = Math.min(this.remaining, input.length - i);
        out.push(input.subarray(i, i + n));
        total += n;
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = ChunkState.DataCR;
        continue;
      }
      const c = input[i++]!;
      switch (this.state) {
        case ChunkState.Size: {
          const v = hexValue(c);
          if (v >= 0 && this.digits < MAX_SIZE_DIGITS) {
            this.remaining = this.remaining * 16 + v;
            this.digits++;
          } else if (this.digits > 0 && (c === 0x3b /* ; */ || c === 0x20 || c === 0x09)) {
            this.state = ChunkState.Extension;
          } else if (this.digits > 0 && c === 0x0d) {
            this.state = ChunkState.SizeLF;
          } else if (this.digits > 0 && c === 0x0a) {
            this.endSizeLine();
          } else {
            this.state = ChunkState.Done;
          }
          break;
        }
        case ChunkState.Extension:
          if (c === 0x0a) this.endSizeLine();
          break;
        case ChunkState.SizeLF:
          if (c === 0x0a) this.endSizeLine();
          else this.state = ChunkState.Done;
          break;
        case ChunkState.DataCR:
          if (c === 0x0d) this.state = ChunkState.DataLF;
          else if (c === 0x0a) this.state = ChunkState.Size;
          else this.state = ChunkState.Done;
          break;
        case ChunkState.DataLF:
          this.state = c === 0x0a ? ChunkState.Size : ChunkState.Done;
          break;
        case ChunkState.Trailer:
          // Trailer fields until an empty line; only line lengths matter.
          if (c === 0x0a) {
            if (this.lineLength === 0) this.state = ChunkState.Done;
            this.lineLength = 0;
          } else if (c !== 0x0d) {
            this.lineLength++;
          }
          break;
      }
    }
    if (out.length === 1) return out[0]!;
    return concatBytes(out, total);
  }

  private endSizeLine(): void {
    this.digits = 0;
    if (this.remaining === 0) {
      this.state = ChunkState.Trailer;
      this.lineLength = 0;
    } else {
      this.state = ChunkState.Data;
    }
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
