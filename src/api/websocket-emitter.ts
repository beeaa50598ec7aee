/**
 * The lowest layer of the WebSocket class (websocket.ts, on closing.ts, on this): its events, and
 * what happens when a listener fails. A listener that throws (or an async one whose promise
 * rejects, or a ws-style completion callback that throws) must not take the process or the other
 * connections down: its error becomes an 'error' event, or a process warning, and the layer above
 * closes the connection (1011), since the application's state for it is unknown.
 *
 * The WebSocket is built in layers of one class, as the socket driver is (node/driver.ts), so that
 * a connection stays one object: no forwarding object per connection and no call through one on
 * the way of a message. Members the layers share are `protected`.
 */
import { EventEmitter } from 'node:events';
import { useFastListenerTable } from './listener-table.js';
import type { WebSocketEvents } from './websocket-types.js';

/** The events, listener failures and ws-style callbacks of a WebSocket. Not exported from the package. */
export abstract class WebSocketEmitter extends EventEmitter<WebSocketEvents> {
  constructor() {
    super({ captureRejections: true });
    // Node makes the listener table a dictionary-mode object; a compact one is about 140 bytes
    // less per connection (bench/README.md, "Memory per idle connection").
    useFastListenerTable(this);
  }

  /** A listener (or callback) failed while the connection may still be open: the layer above closes it with 1011. */
  protected abstract closeForFailedListener(): void;

  /** 'error' is emitted only when someone listens: an unheard 'error' must not crash the process. */
  protected emitError(error: Error): void {
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', error);
    } catch (thrown) {
      this.listenerFailed(thrown, 'error');
    }
  }

  protected safeEmit<E extends keyof WebSocketEvents>(event: E, ...args: WebSocketEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: WebSocketEvents[E]) => boolean)(event, ...args);
    } catch (thrown) {
      this.listenerFailed(thrown, event);
    }
  }

  /** With captureRejections, a rejected promise returned by an async listener lands here. */
  override [EventEmitter.captureRejectionSymbol]<K>(
    error: Error,
    event: keyof WebSocketEvents | K,
    ..._args: K extends keyof WebSocketEvents ? WebSocketEvents[K] : never
  ): void {
    this.listenerFailed(error, String(event));
  }

  /**
   * A listener threw (or its promise rejected). It must not take the process or other
   * connections down: the error is emitted as 'error' (or, with no 'error' listener or when
   * an 'error' or 'close' listener failed, printed as a process warning), and an open
   * connection is closed with 1011, since the application's state for it is unknown.
   */
  protected listenerFailed(thrown: unknown, event: string): void {
    const error = thrown instanceof Error ? thrown : new Error(`a '${event}' listener threw ${String(thrown)}`);
    if (event !== 'error' && event !== 'close' && this.listenerCount('error') > 0) {
      this.emitError(error);
    } else {
      process.emitWarning(error);
    }
    this.closeForFailedListener();
  }

  /** Calls a ws-style completion callback with the outcome of `promise`; a callback that throws is a failed listener. */
  protected callBack(promise: Promise<unknown>, callback: (error?: Error) => void): void {
    promise.then(
      () => this.runSendCallback(callback, undefined),
      (error: unknown) => this.runSendCallback(callback, error instanceof Error ? error : new Error(String(error))),
    );
  }

  // issue 24, idle memory: TypeScript-private, not #private: a class with a #method gives each
  // instance a brand field (8 bytes per connection per class).
  private runSendCallback(callback: (error?: Error) => void, error: Error | undefined): void {
    try {
      if (error === undefined) callback();
      else callback(error);
    } catch (thrown) {
      this.listenerFailed(thrown, 'callback');
    }
  }
}
