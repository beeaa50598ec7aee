/**
 * The one close and failure state of a connection, owned by the core: who closed, how far the
 * closing handshake (RFC 6455 section 7) got, and the result it ended with. The layers above
 * derive their own states (the driver's, `readyState`, the browser class's) from it instead of
 * keeping flags of their own.
 *
 * Inside the core the state is a small integer (the checks on the send and receive paths are
 * comparisons); `CloseState` is the same state by name, for everyone else.
 */
/**
 * Where the connection is in its closing, by who began it:
 * - 'open': no close frame sent or received, no failure.
 * - 'closing-by-peer': the peer's close frame arrived and our answer is held (the owner finishes
 *   sending first, section 5.5.1); data may still be sent until the answer goes.
 * - 'closing-by-us': we sent a close frame and wait for the peer's.
 * - 'failed': we failed the connection (section 7.1.7): a protocol error or a limit; our close
 *   frame is sent (if one could be) and the peer's is not waited for.
 * - 'closed': both close frames were exchanged: the closing handshake completed cleanly.
 * - 'terminated': the transport ended before the handshake completed (code 1006), from any of the
 *   states but 'closed'.
 */
export type CloseState = 'open' | 'closing-by-peer' | 'closing-by-us' | 'failed' | 'closed' | 'terminated';

/** How a connection ended: the one close result of the core, which the driver and api report. */
export interface CloseResult {
  /** The peer's close code after its close frame (1005: it had none); the failure's close code when we failed the connection; 1006 otherwise. */
  readonly code: number;
  /** The peer's close reason; the failure's message when we failed; '' otherwise. */
  readonly reason: string;
  /** True when both close frames were exchanged (RFC 6455 section 7.1.5). */
  readonly wasClean: boolean;
  /** Why it ended, when not by a clean handshake: the ProtocolError or LimitError we failed with, the transport's error, or null. */
  readonly error: Error | null;
}

// The states as the core keeps them, ordered so that the common checks are one comparison:
// data may be sent below CLOSING_BY_US; the core produces no more output of its own from FAILED on.
/** No close frame either way. */
export const OPEN = 0;
/** The peer's close arrived; our answer is held. */
export const CLOSING_BY_PEER = 1;
/** Our close is sent; the peer's is awaited. */
export const CLOSING_BY_US = 2;
/** We failed the connection. */
export const FAILED = 3;
/** Both close frames were exchanged; the transport is still there. */
export const CLOSED = 4;
/** Both close frames were exchanged and the transport ended: still 'closed' by name. */
export const CLOSED_ENDED = 5;
/** The transport ended before the handshake completed. */
export const TERMINATED = 6;

const NAMES: readonly CloseState[] = ['open', 'closing-by-peer', 'closing-by-us', 'failed', 'closed', 'closed', 'terminated'];

/** The name of an internal state. */
export function closeStateName(state: number): CloseState {
  return NAMES[state]!;
}

/** The state as RFC 6455 and the browser name it (see ReadyState). */
export function readyStateOf(state: number): 'open' | 'closing' | 'closed' {
  return state === OPEN ? 'open' : state < CLOSED ? 'closing' : 'closed';
}

/**
 * What ended the connection, kept as it happens: the peer's close frame, the failure (which
 * replaces a peer's close whose answer was still held), or the transport's end (1006).
 */
export interface Ending {
  readonly code: number;
  readonly reason: string;
  readonly error: Error | null;
}

/** The close result for the state reached: clean once both close frames were exchanged. */
export function closeResultOf(state: number, ending: Ending | null): CloseResult {
  if (ending === null) return { code: 1006, reason: '', wasClean: false, error: null };
  return { code: ending.code, reason: ending.reason, wasClean: state === CLOSED || state === CLOSED_ENDED, error: ending.error };
}
