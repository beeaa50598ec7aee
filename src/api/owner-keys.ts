/**
 * The keys of what the send and receive queues (send-queue.ts, receive-queue.ts) need of their
 * connection. They are symbols so that the WebSocket implements SendQueueOwner and
 * ReceiveQueueOwner on itself, with no forwarding object per connection, without public names
 * that would widen its API (an application cannot reach them: this module is not exported).
 */

/** The connection's SocketDriver. */
export const ownerDriver: unique symbol = Symbol('hybi.owner.driver');
/** The connection's resolved options. */
export const ownerOptions: unique symbol = Symbol('hybi.owner.options');
/** The negotiated extension codecs, applied in order to a compressed message. */
export const ownerCodecs: unique symbol = Symbol('hybi.owner.codecs');
/** How the connection ended; null while it lasts. */
export const ownerFinal: unique symbol = Symbol('hybi.owner.final');
/** terminate() was called. */
export const ownerTerminated: unique symbol = Symbol('hybi.owner.terminated');
/** Throws ConnectionClosedError once no data frame may go. */
export const assertSendable: unique symbol = Symbol('hybi.owner.assertSendable');
/** Starts the closing handshake (a queued close() whose turn came). */
export const startClose: unique symbol = Symbol('hybi.owner.startClose');
/** Fails the connection: it is closing from now on, and the core sends a close frame with the code. */
export const failConnection: unique symbol = Symbol('hybi.owner.fail');
/** True when 'message' listeners are attached. */
export const hasMessageListeners: unique symbol = Symbol('hybi.owner.hasMessageListeners');
/** Gives one message to the 'message' listeners. */
export const emitMessage: unique symbol = Symbol('hybi.owner.emitMessage');
/** Sends the held answer to the peer's close, behind the sends queued before it. */
export const replyToClose: unique symbol = Symbol('hybi.owner.replyToClose');
