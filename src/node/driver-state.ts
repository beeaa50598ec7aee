/**
 * How the socket driver keeps its small and its seldom-used state (issue 24, idle memory): what an
 * idle server connection holds is mostly its driver, and V8 (built here without pointer
 * compression) spends 8 bytes on every field of an object, a boolean as much as a pointer.
 *
 * - The driver's booleans (and who closed first) are bits of one integer field, `bits`, read and
 *   written through accessors of the same names in each layer: one field instead of eight.
 * - What only a closing, failing, stalled or slowly-sending connection needs (the closing bound
 *   and the timer for it, the messageTimeout clock, the stall watch, the errors it ended with) is
 *   one object, `Seldom`, made the first time any of it is written: one null field instead of six.
 *
 * The bits are all listed here so that the layers (output-batch.ts, connection-timers.ts,
 * pump.ts, driver.ts) cannot take the same one.
 */
import type { WheelTimer } from './timer-wheel.js';

/** OutputBatcher.finished: the transport is gone and `closed` was reported. */
export const FINISHED = 1;
/** ConnectionTimers.progress: the core completed a frame or message during the current read. */
export const PROGRESS = 2;
/** InputPump.started: `start` was called. */
export const STARTED = 4;
/** InputPump.readEnded: the peer's FIN was handled. */
export const READ_ENDED = 8;
/** InputPump.endDeferred: the peer's FIN came while input read before it still waited to be parsed. */
export const END_DEFERRED = 16;
/** InputPump.closeDeferred: likewise the stream's 'close'. */
export const CLOSE_DEFERRED = 32;
/** SocketDriver.terminated: terminate() was called. */
export const TERMINATED = 64;
/** SocketDriver.closedBy (0, 1 or 2) is the two bits from here. */
export const CLOSED_BY_SHIFT = 7;
export const CLOSED_BY_MASK = 3 << CLOSED_BY_SHIFT;

/** `bits` with `bit` set or cleared. */
export function withBit(bits: number, bit: number, on: boolean): number {
  return on ? bits | bit : bits & ~bit;
}

/** A peer being watched for not reading (see OutputBatcher.watchStall). */
export interface StallWatch {
  timer: WheelTimer;
  /** Bytes written when the watch was last armed: no more by the next check means no progress. */
  mark: number;
  limit: number;
  timeout: number;
}

/**
 * The seldom-used state of one connection's driver; every field starts empty, as the field it
 * replaces did. `M` is the messageTimeout clock's class (connection-timers.ts).
 */
export class Seldom<M extends WheelTimer = WheelTimer> {
  /** The watch on a peer that may not be reading (OutputBatcher.stall). */
  stall: StallWatch | null = null;
  /** The bound on the closing handshake (ConnectionTimers.closeTimer). */
  closeTimer: WheelTimer | null = null;
  /** The messageTimeout clock (ConnectionTimers.messageClock). */
  messageClock: M | null = null;
  /** SocketDriver.transportError. */
  transportError: Error | null = null;
  /** SocketDriver.timeoutError. */
  timeoutError: Error | null = null;
  /** SocketDriver.closeWait when startClose() was given its own bound; -1: the options' closeTimeout. */
  closeWait = -1;
}
