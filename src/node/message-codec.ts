/**
 * The per-message transform a negotiated extension provides (permessage-deflate, RFC 7692).
 *
 * It lives in the Node layer because the driver calls it and the codecs themselves (zlib) are
 * Node bindings; `src/api/websocket.ts` re-exports it under the same name.
 */
import type { ExtensionHook } from '../core/connection.js';

/**
 * One negotiated extension's transform. The driver calls `decode` when the core reports a message
 * carrying the extension's RSV bits (pausing socket reads until it settles) and `encode` before
 * sending a data message.
 */
export interface MessageCodec {
  /** The RSV bits the extension claims, handed to the core. */
  readonly hook: ExtensionHook;
  /** The negotiated Sec-WebSocket-Extensions value, for `ws.extensions`. */
  readonly header: string;
  /**
   * Reverses the transform of a received message. Rejects with a ProtocolError or a LimitError (its
   * closeCode is sent; e.g. MessageTooLargeError when the output would exceed `maxSize`); any
   * other rejection fails the connection with 1011.
   */
  decode(data: Uint8Array, isText: boolean, rsv: number, maxSize: number): Promise<Uint8Array>;
  /** Returns the transformed payload and the RSV bits to set, or null to send this message as is. */
  encode(data: Uint8Array, isText: boolean): Promise<{ data: Uint8Array; rsv: number } | null>;
  /** Releases the codec's resources (zlib streams); called once, when the connection is closed. */
  close(): void;
}
