/**
 * The event side of the browser-compatible classes (BrowserWebSocket and the browser flavour of
 * ReconnectingWebSocket): the `onopen`/`onmessage`/`onerror`/`onclose` event handler attributes
 * and addEventListener/removeEventListener, typed per event as lib.dom types them. An exception
 * thrown by a listener is reported as a process warning instead of crashing the process (Node's
 * EventTarget would rethrow it as an uncaught exception; a browser logs it).
 */
import type { BrowserEventListener, BrowserListenerOptions, BrowserWebSocketEventMap } from './browser-events.js';

type HandlerType = keyof BrowserWebSocketEventMap;
type Handler = ((this: unknown, event: Event) => unknown) | null;
/** An event handler attribute (`onmessage` and the others), typed for its event and its target. */
type HandlerOf<This, K extends HandlerType> = ((this: This, event: BrowserWebSocketEventMap[K]) => unknown) | null;

function reportListenerError(error: unknown): void {
  process.emitWarning(error instanceof Error ? error : new Error(`a WebSocket event listener threw ${String(error)}`));
}

/**
 * An EventTarget shaped like a browser WebSocket: the readyState constants (on the class and on
 * each instance, as the standard has them), the event handler attributes, and listeners that
 * cannot crash the process.
 */
export class BrowserEventTarget extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readonly #handlers = new Map<HandlerType, { handler: Handler; listener: (event: Event) => void }>();
  readonly #wrapped = new WeakMap<object, Map<string, (event: Event) => void>>();

  get onopen(): HandlerOf<this, 'open'> {
    return this.#getHandler('open') as HandlerOf<this, 'open'>;
  }
  set onopen(handler: HandlerOf<this, 'open'>) {
    this.#setHandler('open', handler as Handler);
  }
  get onmessage(): HandlerOf<this, 'message'> {
    return this.#getHandler('message') as HandlerOf<this, 'message'>;
  }
  set onmessage(handler: HandlerOf<this, 'message'>) {
    this.#setHandler('message', handler as Handler);
  }
  get onerror(): HandlerOf<this, 'error'> {
    return this.#getHandler('error') as HandlerOf<this, 'error'>;
  }
  set onerror(handler: HandlerOf<this, 'error'>) {
    this.#setHandler('error', handler as Handler);
  }
  get onclose(): HandlerOf<this, 'close'> {
    return this.#getHandler('close') as HandlerOf<this, 'close'>;
  }
  set onclose(handler: HandlerOf<this, 'close'>) {
    this.#setHandler('close', handler as Handler);
  }
  /**
   * Like EventTarget's, with the listener's exceptions reported instead of crashing the process.
   * Typed per event as lib.dom types it: 'message' gives a MessageEvent, 'close' a CloseEvent,
   * 'error' an ErrorEvent.
   */
  override addEventListener<K extends keyof BrowserWebSocketEventMap>(
    type: K,
    listener: BrowserEventListener<BrowserWebSocketEventMap[K], this> | null,
    options?: BrowserListenerOptions | boolean,
  ): void;
  override addEventListener(type: string, listener: BrowserEventListener<Event, this> | null, options?: BrowserListenerOptions | boolean): void;
  override addEventListener(
    type: string,
    listener: BrowserEventListener<Event, this> | null,
    options?: BrowserListenerOptions | boolean,
  ): void {
    // EventTarget ignores a null listener (@types/node's signature omits null; the DOM's has it).
    if (listener === null || listener === undefined) return super.addEventListener(type, listener as never, options);
    super.addEventListener(type, this.#wrap(type, listener, options), options);
  }

  /** Removes a listener added by addEventListener (same type, listener and capture flag). */
  override removeEventListener<K extends keyof BrowserWebSocketEventMap>(
    type: K,
    listener: BrowserEventListener<BrowserWebSocketEventMap[K], this> | null,
    options?: { capture?: boolean } | boolean,
  ): void;
  override removeEventListener(type: string, listener: BrowserEventListener<Event, this> | null, options?: { capture?: boolean } | boolean): void;
  override removeEventListener(type: string, listener: BrowserEventListener<Event, this> | null, options?: { capture?: boolean } | boolean): void {
    if (listener === null || listener === undefined) return super.removeEventListener(type, listener as never, options);
    const capture = typeof options === 'boolean' ? options : Boolean(options?.capture);
    const wrapper = this.#wrapped.get(listener)?.get(`${capture ? 1 : 0}${type}`);
    if (wrapper !== undefined) super.removeEventListener(type, wrapper, options);
  }

  #wrap(type: string, listener: BrowserEventListener<Event, this>, options?: BrowserListenerOptions | boolean): (event: Event) => void {
    const capture = typeof options === 'boolean' ? options : Boolean(options?.capture);
    const key = `${capture ? 1 : 0}${type}`;
    let byKey = this.#wrapped.get(listener);
    if (byKey === undefined) {
      byKey = new Map();
      this.#wrapped.set(listener, byKey);
    }
    let wrapper = byKey.get(key);
    if (wrapper === undefined) {
      const self = this;
      wrapper = function (event: Event): void {
        try {
          if (typeof listener === 'function') listener.call(self, event);
          else listener.handleEvent(event);
        } catch (error) {
          reportListenerError(error);
        }
      };
      byKey.set(key, wrapper);
    }
    return wrapper;
  }

  #getHandler(type: HandlerType): Handler {
    return this.#handlers.get(type)?.handler ?? null;
  }

  /** Event handler attributes: registered on first set, in place afterwards, removed by null. */
  #setHandler(type: HandlerType, handler: Handler): void {
    const current = this.#handlers.get(type);
    if (typeof handler !== 'function') {
      if (current !== undefined) {
        super.removeEventListener(type, current.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (current !== undefined) {
      current.handler = handler;
      return;
    }
    const entry = {
      handler,
      listener: (event: Event): void => {
        try {
          entry.handler?.call(this, event);
        } catch (error) {
          reportListenerError(error);
        }
      },
    };
    this.#handlers.set(type, entry);
    super.addEventListener(type, entry.listener);
  }
}
