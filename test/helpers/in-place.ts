/**
 * Helpers for reading into Connection.receiveTarget's memory the way a socket would: a
 * connection in either role that records what it delivers, frames as the peer sends them, and a
 * read into the offered memory.
 */
import { Connection, type ConnectionHandler, type Role } from '../../src/core/connection.js';
import { encodeFrame } from '../../src/core/frame.js';

export const KiB = 1024;

/** A message (or streamed piece, copied) as the handler received it. */
export interface Received {
  data: Uint8Array;
  isText: boolean;
}

/** A connection in `role` (permessage-deflate's RSV1 claimed) that records messages, close codes of errors, and transform input. */
export function open(role: Role, options: { maxMessageSize?: number; streaming?: boolean } = {}): { conn: Connection; messages: Received[]; errors: number[]; transformed: Uint8Array[] } {
  const messages: Received[] = [];
  const errors: number[] = [];
  const transformed: Uint8Array[] = [];
  const handler: ConnectionHandler = {
    output() {},
    message: (data, isText) => messages.push({ data, isText }),
    fragment: (data, isText) => messages.push({ data: data.slice(), isText }),
    ping() {},
    pong() {},
    close() {},
    protocolError: (error) => errors.push(error.closeCode),
    transformMessage: (data) => transformed.push(data),
  };
  const conn = new Connection(
    {
      role,
      maxMessageSize: options.maxMessageSize ?? 64 * 1024 * KiB,
      maxFrameSize: 64 * 1024 * KiB,
      extensions: [{ name: 'permessage-deflate', rsvBits: 0x40 }],
    },
    handler,
  );
  if (options.streaming === true) conn.setStreaming(true);
  return { conn, messages, errors, transformed };
}

/** `length` bytes of a pattern that depends on `seed`. */
export function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

/** Frames as the peer of `role` sends them: masked towards a server, unmasked towards a client. */
export function frame(role: Role, opcode: number, payload: Uint8Array, fin = true, rsv1 = false): Uint8Array {
  return encodeFrame({ opcode, payload, fin, rsv1, mask: role === 'server' });
}

/** Reads `source` into the target the way a socket would: copy, then receive a view of the target. */
export function readInto(conn: Connection, target: Uint8Array, source: Uint8Array): void {
  target.set(source);
  conn.receive(target.subarray(0, source.length));
}

