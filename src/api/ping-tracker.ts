/**
 * The pings of one connection waiting for their pong: which pong answers which ping (RFC 6455
 * section 5.5.3), the round trip, and how a ping that is never answered ends. The WebSocket sends
 * the frames; this only keeps the books. One per connection, made at its first ping.
 */
import { Buffer } from 'node:buffer';
import { PingTimeoutError, PongMismatchError } from './errors.js';
import { systemTimers, WheelTimer, type TimerService } from '../node/timer-wheel.js';

interface PendingPing {
  payload: Uint8Array;
  sent: number;
  /** A keep-alive ping of the connection's own: nobody waits for its promise. */
  keepalive: boolean;
  resolve: ((rtt: number) => void) | null;
  reject: ((error: Error) => void) | null;
  timer: WheelTimer | null;
  /** The last pong that answered no outstanding ping while this one waited (what its timeout reports), or null. */
  stray: Uint8Array | null;
}

const EMPTY = new Uint8Array(0);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The outstanding pings of one connection, oldest first. */
export class PingTracker {
  readonly #pending: PendingPing[] = [];
  /** The clock of the round trips and the wheels of the timeouts. */
  readonly #timers: TimerService;

  constructor(timers: TimerService = systemTimers) {
    this.#timers = timers;
  }

  /**
   * Lists a ping whose frame is about to be sent (listed first: a transport may deliver the pong
   * synchronously) and returns the promise of its round trip in ms. After `timeout` ms (0: never)
   * it rejects with PongMismatchError if pongs with other payloads came meanwhile, else with
   * PingTimeoutError. `payload` must not change afterwards (the caller passes a copy).
   */
  add(payload: Uint8Array, timeout: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const entry: PendingPing = { payload, sent: this.#timers.now(), keepalive: false, resolve, reject, timer: null, stray: null };
      this.#pending.push(entry);
      if (timeout > 0) {
        entry.timer = new WheelTimer(
          () => {
            const index = this.#pending.indexOf(entry);
            if (index >= 0) this.#pending.splice(index, 1);
            // Pongs came, none with our payload: say what arrived rather than "no pong".
            reject(entry.stray === null ? new PingTimeoutError(timeout) : new PongMismatchError(payload, entry.stray));
          },
          { ref: true, timers: this.#timers },
        );
        entry.timer.schedule(timeout);
      }
    });
  }

  /** Lists a keep-alive ping (empty payload); at most one waits, so a silent peer cannot grow the list. */
  addKeepalive(): void {
    if (this.#pending.some((p) => p.keepalive)) return;
    this.#pending.push({ payload: EMPTY, sent: this.#timers.now(), keepalive: true, resolve: null, reject: null, timer: null, stray: null });
  }

  /**
   * A pong arrived: it answers the ping with its payload and every earlier one (a peer may answer
   * only the latest, section 5.5.3); returns that ping's round trip in ms. A pong that answers no
   * outstanding ping is an unsolicited heartbeat (section 5.5.3): no ping ends, each remembers it
   * for its timeout's report, and the result is null.
   */
  pong(payload: Uint8Array): number | null {
    const pending = this.#pending;
    if (pending.length === 0) return null;
    let index = -1;
    for (let i = 0; i < pending.length; i++) {
      if (sameBytes(pending[i]!.payload, payload)) {
        index = i;
        break;
      }
    }
    if (index < 0) {
      // One copy, shared by every waiting ping.
      const stray = Buffer.from(payload);
      for (const entry of pending) if (!entry.keepalive) entry.stray = stray;
      return null;
    }
    const now = this.#timers.now();
    const roundTrip = now - pending[index]!.sent;
    for (const entry of pending.splice(0, index + 1)) {
      entry.timer?.cancel();
      entry.resolve?.(now - entry.sent);
    }
    return roundTrip;
  }

  /** The connection ended: every waiting ping rejects with the error `make` gives. */
  closeAll(make: () => Error): void {
    for (const entry of this.#pending.splice(0)) {
      entry.timer?.cancel();
      entry.reject?.(make());
    }
  }
}
