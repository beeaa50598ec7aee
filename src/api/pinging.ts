/**
 * The ping layer of the WebSocket class (websocket.ts is the facade; receiving.ts is below):
 * `ping()` with its pong matched by payload and timed, `pong()`, the keep-alive ping the driver
 * asks for, and the driver's reports of pings and pongs (DriverEvents). The books of pings
 * waiting for their pong are the ping tracker (ping-tracker.ts), made with the first ping.
 */
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../core/errors.js';
import { publishPing, publishPong } from '../node/diagnostics.js';
import { onKeepalive, onPing, onPong } from '../node/driver.js';
import { EMPTY } from './bytes.js';
import { checkMask, checkTimeout, controlArguments, controlPayload, PING_NAMES } from './call-arguments.js';
import { hybi00Unsupported, type ProtocolVersion } from './legacy.js'; // legacy (issue 22)
import { checkOptionNames, optionsObject } from './options.js';
import type { PingObserver } from './connection-facts.js'; // issue 24, idle memory: moved there
import { PingTracker } from './ping-tracker.js';
import { WebSocketReceiving } from './receiving.js';
import type { PingData, PingOptions, SendCallback } from './websocket-types.js';

const noop = (): void => {};

export type { PingObserver };

/** The ping layer of WebSocket. Not exported from the package. */
export abstract class WebSocketPings extends WebSocketReceiving {
  /** The protocol spoken (the facade's public getter); hybi-00 has no pings. (legacy, issue 22) */
  abstract readonly version: ProtocolVersion;

  /**
   * Sends a ping (payload at most 125 bytes) and resolves with the round-trip time in ms when
   * the pong with the same payload arrives. A pong that answers a later ping also answers the
   * earlier ones (RFC 6455 section 5.5.3 lets a peer answer only the latest). A pong that answers
   * no outstanding ping is an unsolicited heartbeat (section 5.5.3) and leaves the ping waiting.
   * After `timeout` ms without its pong it rejects with PongMismatchError (`expected` is its
   * payload, `received` the last of those other pongs) if pongs with other payloads arrived
   * meanwhile, else with PingTimeoutError. Without `timeout` (0 or absent) it waits until the
   * connection closes, and then rejects with ConnectionClosedError.
   *
   * ws's forms `ping(cb)`, `ping(data, cb)` and `ping(data, mask, cb)` work too: `cb()` once the
   * ping frame was handed to the socket (not when the pong comes: the promise tells that), or
   * `cb(error)` when it could not be sent. `mask` must be what RFC 6455 section 5.3 prescribes
   * for the role (true for a client, false for a server), else InvalidArgumentError.
   */
  ping(data?: PingData, options?: PingOptions | boolean, callback?: SendCallback): Promise<number>;
  ping(data: PingData | undefined, callback: SendCallback): Promise<number>;
  ping(callback: SendCallback): Promise<number>;
  ping(data?: PingData | SendCallback, a?: PingOptions | boolean | SendCallback, b?: SendCallback): Promise<number> {
    const { payload, options, callback } = controlArguments('ping', data, a, b);
    let promise: Promise<number>;
    let sent: Promise<void> | null = null;
    try {
      if (this.version === 'hybi-00') throw hybi00Unsupported('ping'); // legacy (issue 22)
      checkMask('ping', this.role, options);
      let timeout: number | undefined;
      if (options !== undefined && typeof options !== 'boolean') {
        const given = optionsObject('ping()', options as PingOptions);
        checkOptionNames('ping()', given, PING_NAMES);
        timeout = given.timeout;
      }
      const open = this.state === 'open';
      promise = this.pingWithTimeout(payload, timeout ?? 0);
      // ws calls the callback once the ping is written, not when the pong comes (the promise
      // says that); when the connection was not open, it gets the promise's error.
      if (callback !== undefined && open) sent = this.driver.whenWritten();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.catch(noop);
    if (callback !== undefined) this.callBack(sent ?? promise, callback);
    return promise;
  }

  // issue 24, idle memory: TypeScript-private, not #private (see websocket-emitter.ts, runSendCallback).
  private pingWithTimeout(data: string | Uint8Array | ArrayBuffer | undefined, timeout: number): Promise<number> {
    if (!this.mayWrite()) return Promise.reject(this.notOpenError());
    checkTimeout('ping', timeout);
    const payload = controlPayload('ping', data, true);
    // Listed before it is written: a transport may deliver the pong synchronously.
    const roundTrip = (this.pings ??= new PingTracker()).add(payload, timeout);
    this.driver.sendPing(payload);
    return roundTrip;
  }

  /**
   * Sends a pong (payload at most 125 bytes): an unsolicited one-way heartbeat (RFC 6455 section
   * 5.5.3), or the answer to a ping when `autoPong` is false. Allowed while closing too, as a
   * control frame. Rejects with ConnectionNotOpenError once closed. Takes ws's `mask` and
   * callback arguments as `ping()` does.
   */
  pong(data?: PingData, mask?: boolean, callback?: SendCallback): Promise<void>;
  pong(data: PingData | undefined, callback: SendCallback): Promise<void>;
  pong(callback: SendCallback): Promise<void>;
  pong(data?: PingData | SendCallback, a?: boolean | SendCallback, b?: SendCallback): Promise<void> {
    const { payload: given, options: mask, callback } = controlArguments('pong', data, a, b);
    let promise: Promise<void>;
    try {
      if (this.version === 'hybi-00') throw hybi00Unsupported('pong'); // legacy (issue 22)
      if (mask !== undefined && typeof mask !== 'boolean') throw new InvalidArgumentError('pong() takes no options; its second argument is ws\'s mask, a boolean');
      checkMask('pong', this.role, mask);
      if (this.state === 'closed') throw this.notOpenError();
      this.driver.sendPong(controlPayload('pong', given, false));
      promise = this.driver.whenWritten();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.catch(noop);
    if (callback !== undefined) this.callBack(promise, callback);
    return promise;
  }

  // The driver's reports of pings and pongs (DriverEvents; the ones of the end are in closing.ts).

  /** @internal */
  [onPing](payload: Uint8Array): void {
    publishPing(this, this.role, payload);
    this.safeEmit('ping', Buffer.from(payload));
  }

  /** @internal */
  [onPong](payload: Uint8Array): void {
    const roundTrip = this.pings === null ? null : this.pings.pong(payload);
    if (roundTrip !== null) this.facts.observer?.pingRoundTrip(roundTrip);
    publishPong(this, this.role, payload, roundTrip);
    this.safeEmit('pong', Buffer.from(payload));
  }

  /** @internal */
  [onKeepalive](): void {
    if (this.state !== 'open') return;
    (this.pings ??= new PingTracker()).addKeepalive();
    this.driver.sendPing(EMPTY);
  }
}
