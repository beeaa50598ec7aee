/**
 * ReconnectingWebSocket: one object with the events and `send()` of a WebSocket that outlives
 * its connections. It runs the reconnection engine (reconnect/engine.ts), re-emits each
 * connection's events, and holds messages sent while disconnected in a bounded queue
 * (reconnect/queue.ts) that is flushed, after the async `onReconnect(ws)` hook, on the next one.
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError } from '../core/errors.js';
import { optionalFunction } from './options.js';
import { ReconnectEngine, type BackoffInfo, type ReconnectOptions, type ReconnectURL } from './reconnect/engine.js';
import { SendQueue, type DropReason, type QueueOptions, type QueuedSend } from './reconnect/queue.js';
import type { WebSocket } from './websocket.js';

/** What `send()` did with a message: handed to the open connection, queued for the next, or dropped. */
export type SendResult = 'sent' | 'queued' | 'dropped';

/** What ReconnectingWebSocket.send() takes: whole messages (a stream cannot wait in a queue). */
export type ReconnectingSendData = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** Options of ReconnectingWebSocket: reconnecting()'s, the queue and the hook. */
export interface ReconnectingWebSocketOptions extends ReconnectOptions {
  /** The send queue while disconnected (see QueueOptions), or false for none; default 1000 messages, 1 MiB, 'reject', no ttl. */
  queue?: QueueOptions | false;
  /**
   * Runs on every new connection before the queue is flushed and before 'open' (authenticate,
   * resubscribe); send on `ws` itself there. A throw or rejection closes that connection (1011)
   * and counts as its ending. Default none.
   */
  onReconnect?: (ws: WebSocket) => void | Promise<void>;
}

/** The events of a ReconnectingWebSocket. */
export interface ReconnectingWebSocketEvents {
  /** A connection is open (every time), after onReconnect and the queue flush. */
  open: [ws: WebSocket];
  /** A message on the current connection. */
  message: [data: string | Buffer, isBinary: boolean];
  /** The current connection closed; reconnecting follows unless the ending table says stop. */
  close: [code: number, reason: string];
  /** An error of the current connection (as WebSocket's 'error'). */
  error: [error: Error];
  ping: [payload: Buffer];
  pong: [payload: Buffer];
  /** A wait before the next attempt begins. */
  reconnecting: [info: BackoffInfo];
  /** A queued message was dropped: evicted by a newer one ('overflow'), past its ttl ('expired'), or left when reconnecting ended ('closed'). */
  drop: [data: string | Buffer, reason: DropReason];
  /** Reconnecting is over for good: `error` when it gave up or a refusal stopped it, undefined after a close that stops or close(). */
  end: [error: Error | undefined];
}

/** Where a ReconnectingWebSocket is: between connections it is 'connecting'. */
export type ReconnectingReadyState = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * A WebSocket that survives drops (docs/client.md "Reconnection"). `send()` returns what it did
 * ('sent', 'queued' or 'dropped'); `close()` ends it for good.
 */
export class ReconnectingWebSocket extends EventEmitter<ReconnectingWebSocketEvents> {
  readonly #engine: ReconnectEngine;
  readonly #queue: SendQueue;
  readonly #onReconnect: ReconnectingWebSocketOptions['onReconnect'];
  #ws: WebSocket | null = null;
  #state: ReconnectingReadyState = 'connecting';
  /** Messages handed to the current connection whose send() has not settled: requeued if it fails. */
  #inFlight: Array<{ item: QueuedSend; done: Promise<boolean> }> = [];
  readonly #ended: Promise<void>;

  /** Checks every option now (InvalidArgumentError, InvalidURLError) and starts connecting on the next turn. */
  constructor(url: ReconnectURL, options: ReconnectingWebSocketOptions = {}) {
    super();
    const { queue, onReconnect, ...rest } = options ?? {};
    optionalFunction('onReconnect', onReconnect);
    this.#queue = new SendQueue(queue);
    this.#onReconnect = onReconnect;
    this.#engine = new ReconnectEngine(url, {
      ...rest,
      onBackoff: (info) => {
        rest.onBackoff?.(info);
        this.emit('reconnecting', info);
      },
    });
    this.#ended = this.#run();
  }

  /** 'connecting' between connections, 'open' while one is (and the queue was flushed), 'closing', 'closed' for good. */
  get readyState(): ReconnectingReadyState {
    return this.#state;
  }

  /** The current connection, or null between connections. */
  get ws(): WebSocket | null {
    return this.#ws;
  }

  /** Messages waiting for a connection. */
  get queuedMessages(): number {
    return this.#queue.length;
  }

  /** Bytes waiting: the queue's and the current connection's bufferedAmount. */
  get bufferedAmount(): number {
    return this.#queue.bytes + (this.#ws?.bufferedAmount ?? 0);
  }

  /** Resolves once reconnecting is over for good (after 'end'). */
  get ended(): Promise<void> {
    return this.#ended;
  }

  /**
   * Sends a whole message: 'sent' when handed to the open connection (if that connection fails
   * before the message reached its socket, the message goes back to the front of the queue),
   * 'queued' while disconnected, 'dropped' when the queue policy 'drop-newest' (or queue: false)
   * turned it away. Under 'reject' a full queue throws SendQueueFullError. After close(), 'dropped'.
   */
  send(data: ReconnectingSendData): SendResult {
    if (typeof data !== 'string' && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      throw new InvalidArgumentError('ReconnectingWebSocket.send() takes a string, a Uint8Array, an ArrayBuffer or a view of one');
    }
    if (this.#state === 'closing' || this.#state === 'closed') return 'dropped';
    const clock = this.#engine.timers;
    const item = SendQueue.entry(data, this.#queue.ttl > 0 ? clock.now() + this.#queue.ttl : Infinity);
    if (this.#state === 'open' && this.#ws !== null) {
      this.#transmit(this.#ws, item);
      return 'sent';
    }
    this.#dropAll(this.#queue.expire(clock.now()), 'expired');
    const offer = this.#queue.offer(item);
    this.#dropAll(offer.evicted, 'overflow');
    return offer.queued ? 'queued' : 'dropped';
  }

  /** Ends reconnecting and closes the current connection (default 1000); resolves once it is all over. */
  async close(code = 1000, reason = ''): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closing';
    const ws = this.#ws;
    if (ws !== null && ws.readyState === 'open') await ws.close(code, reason).catch(() => {});
    this.#engine.stop();
    await this.#ended;
  }

  #transmit(ws: WebSocket, item: QueuedSend): void {
    // Resolves false when the message never reached the socket (the connection failed first).
    const done = ws.send(item.data).then(
      () => true,
      () => false,
    );
    const entry = { item, done };
    this.#inFlight.push(entry);
    void done.then((ok) => {
      if (ok) this.#inFlight = this.#inFlight.filter((e) => e !== entry);
    });
  }

  #dropAll(items: readonly QueuedSend[], reason: DropReason): void {
    for (const item of items) this.emit('drop', item.data, reason);
  }

  /** Sends that failed with the last connection go back to the front of the queue, in order. */
  async #recover(): Promise<void> {
    const flights = this.#inFlight;
    this.#inFlight = [];
    const results = await Promise.all(flights.map((f) => f.done));
    this.#queue.requeue(flights.filter((_, i) => !results[i]).map((f) => f.item));
  }

  async #run(): Promise<void> {
    let failure: Error | undefined;
    try {
      for await (const ws of this.#engine.connections()) {
        this.#ws = ws;
        ws.on('message', (data, isBinary) => this.emit('message', data, isBinary));
        ws.on('ping', (payload) => this.emit('ping', payload));
        ws.on('pong', (payload) => this.emit('pong', payload));
        ws.on('error', (error) => {
          if (this.listenerCount('error') > 0) this.emit('error', error);
        });
        const closed = new Promise<void>((resolve) => {
          ws.once('close', (code, reason) => {
            if (this.#ws === ws) this.#ws = null;
            if (this.#state === 'open') this.#state = 'connecting';
            this.emit('close', code, reason);
            resolve();
          });
        });
        await this.#recover();
        try {
          await this.#onReconnect?.(ws);
        } catch (error) {
          if (ws.readyState === 'open') await ws.close(1011, 'onReconnect failed').catch(() => {});
          if (this.listenerCount('error') > 0) this.emit('error', error as Error);
        }
        if (ws.readyState === 'open' && this.#state === 'connecting') {
          this.#dropAll(this.#queue.expire(this.#engine.timers.now()), 'expired');
          // In order, each handed to the connection before the next: a later send() queues behind them.
          for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) this.#transmit(ws, item);
          this.#state = 'open';
          this.emit('open', ws);
        }
        await closed;
      }
    } catch (error) {
      failure = error as Error;
    } finally {
      this.#ws = null;
      this.#state = 'closed';
      await this.#recover();
      // What never found a connection is reported, not silently forgotten.
      this.#dropAll(this.#queue.clear(), 'closed');
      this.emit('end', failure);
    }
  }
}
