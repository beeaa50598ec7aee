/**
 * permessage-deflate codecs for a WebSocket pair made without a handshake (wsPair, rawPair), as
 * if both ends had negotiated `permessage-deflate` with its default parameters.
 */
import { DeflateCodec } from '../../src/node/deflate-codec.js';
import type { MessageCodec } from '../../src/node/message-codec.js';

/**
 * One codec list per role. `threshold` (default 0: every message is compressed) is the size
 * below which a message is sent plain; a message under it still goes through the send queue.
 */
export function deflateCodecs(threshold = 0): { client: MessageCodec[]; server: MessageCodec[] } {
  const params = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  return {
    client: [new DeflateCodec('client', params, 'permessage-deflate', { threshold })],
    server: [new DeflateCodec('server', params, 'permessage-deflate', { threshold })],
  };
}
