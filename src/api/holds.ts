/**
 * The WebSocket's holds on input: tokens of the driver's neutral hold mechanism (node/pump.ts),
 * made and named here, by the layer that holds, so that the node layer names no api concern.
 */
import { defineHold } from '../node/driver.js';

/** Why the WebSocket holds reading (and parsing) of its connection. */
export const PauseReason = {
  /**
   * Unread messages passed the receive high-water mark. Holds parsing too: frames already read
   * would otherwise go on being parsed, inflated and queued past the mark (a read of compressed
   * frames may inflate a thousandfold). The socket is still read ahead, unparsed.
   */
  Queue: defineHold({ parsing: true, readAhead: true }),
  /** The Readable of a streamed message is full. Holds parsing too, for the same reason as Queue. */
  Stream: defineHold({ parsing: true, readAhead: true }),
  /**
   * A reply queued while a message was delivered is still being encoded (compressed). This holds
   * *parsing* too (Connection.holdInput), without reading ahead: input already read waits, so a
   * protocol error or a close frame after the message is not answered before the reply is sent.
   * The owner must lift it once the reply has been handed to the driver, whatever happens to it.
   */
  Reply: defineHold({ parsing: true, readAhead: false }),
} as const;
