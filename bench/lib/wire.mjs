// Wire helpers shared by the load generator and the raw reference server. They are written for
// speed, not generality: the load generator must cost far less per message than any server under
// test, so it never parses payloads, never unmasks, and sends frames built (and masked) once.
import { randomFillSync } from 'node:crypto';

/** Size of a frame header for a payload of `length` bytes (RFC 6455 section 5.2). */
export function headerSize(length, masked) {
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Builds one frame: FIN set, `opcode`, the payload masked with a random key when `masked` (what a
 * client sends), plain otherwise (what a server sends). The payload is copied.
 */
export function buildFrame(opcode, payload, masked) {
  const length = payload.length;
  const size = headerSize(length, masked);
  const frame = Buffer.allocUnsafeSlow(size + length);
  frame[0] = 0x80 | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) {
    frame[1] = maskBit | length;
  } else if (length < 0x10000) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.set(payload, size);
  if (masked) {
    const key = randomFillSync(Buffer.alloc(4));
    key.copy(frame, size - 4);
    for (let i = 0; i < length; i++) frame[size + i] ^= key[i & 3];
  }
  return frame;
}

/** `count` copies of `frame` back to back, so that the first k frames are one subarray. */
export function repeatFrame(frame, count) {
  const out = Buffer.allocUnsafeSlow(frame.length * count);
  for (let i = 0; i < count; i++) frame.copy(out, i * frame.length);
  return out;
}

/** A payload of `size` bytes of printable ASCII (valid as text and as binary). */
export function payloadOf(size) {
  const payload = Buffer.allocUnsafeSlow(size);
  for (let i = 0; i < size; i++) payload[i] = 0x61 + (i % 26);
  return payload;
}

/** The HTTP/1.1 upgrade request of a client (RFC 6455 section 4.1); the key is fixed, servers do not care. */
export function upgradeRequest(host, port, path) {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: ${host}:${port}\r\n` +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
      'Sec-WebSocket-Version: 13\r\n' +
      '\r\n',
    'latin1',
  );
}

/** The 101 answer to the fixed key above (the accept value of RFC 6455 section 1.3's example). */
export const UPGRADE_RESPONSE = Buffer.from(
  'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
    '\r\n',
  'latin1',
);

/**
 * Counts whole frames in a byte stream by reading headers only and skipping payloads. One per
 * connection. `push(chunk)` returns how many frames completed in that chunk; `lastOpcode` is the
 * opcode of the latest header read (a close frame from a server shows up there).
 * Payload bytes after the last whole frame of a chunk are skipped without being read.
 */
export class FrameCounter {
  /**
   * `onFrame(opcode, length)`, when given, is called as each frame completes (the raw server
   * answers frame by frame with it); the load generator only needs the counts.
   */
  constructor(onFrame = null) {
    this.onFrame = onFrame;
    this.opcode = 0;
    this.length = 0;
    /** Payload bytes of the current frame still to skip. */
    this.skip = 0;
    /** A header split across chunks is gathered here. */
    this.header = Buffer.alloc(14);
    this.have = 0;
    this.lastOpcode = 0;
    /** Bytes taken, payload and headers. */
    this.bytes = 0;
  }

  push(chunk) {
    const n = chunk.length;
    this.bytes += n;
    let pos = 0;
    let frames = 0;
    let skip = this.skip;
    while (pos < n) {
      if (skip > 0) {
        const avail = n - pos;
        if (skip > avail) {
          skip -= avail;
          break;
        }
        pos += skip;
        skip = 0;
        frames++;
        if (this.onFrame !== null) this.onFrame(this.opcode, this.length);
        continue;
      }
      let buf = chunk;
      let off = pos;
      if (this.have === 0 && n - pos >= 2) {
        const b1 = chunk[pos + 1];
        const len7 = b1 & 0x7f;
        const size = (len7 < 126 ? 2 : len7 === 126 ? 4 : 10) + (b1 & 0x80 ? 4 : 0);
        if (n - pos >= size) {
          pos += size;
        } else {
          buf = null;
        }
      } else {
        buf = null;
      }
      if (buf === null) {
        // Gather a header that crosses a chunk boundary.
        const h = this.header;
        h[this.have++] = chunk[pos++];
        if (this.have < 2) continue;
        const len7 = h[1] & 0x7f;
        const size = (len7 < 126 ? 2 : len7 === 126 ? 4 : 10) + (h[1] & 0x80 ? 4 : 0);
        if (this.have < size) continue;
        this.have = 0;
        buf = h;
        off = 0;
      }
      const opcode = buf[off] & 0x0f;
      this.lastOpcode = opcode;
      const len7 = buf[off + 1] & 0x7f;
      let length;
      if (len7 < 126) length = len7;
      else if (len7 === 126) length = (buf[off + 2] << 8) | buf[off + 3];
      else length = buf.readUInt32BE(off + 2) * 0x1_0000_0000 + buf.readUInt32BE(off + 6);
      if (length === 0) {
        frames++;
        if (this.onFrame !== null) this.onFrame(opcode, 0);
      } else {
        skip = length;
        this.opcode = opcode;
        this.length = length;
      }
    }
    this.skip = skip;
    return frames;
  }
}

/** Position just after the first "\r\n\r\n" in `buf`, or -1. */
export function headEnd(buf) {
  const i = buf.indexOf('\r\n\r\n', 0, 'latin1');
  return i === -1 ? -1 : i + 4;
}
