/**
 * The reconnection engine under both shapes (`reconnecting()` and `ReconnectingWebSocket`): an
 * async generator that yields a fresh open WebSocket each time the last one ended, deciding after
 * every ending (policy.ts) whether to stop, come back at once or wait, and waiting on the injectable
 * timer service (node/timer-wheel.ts). It also watches liveness: a ping every `liveness.interval`, and a connection whose pong
 * is not back within `liveness.timeout` is terminated (a half-open link is found in bounded time).
 */
import { ConnectError, HandshakeError } from '../../node/errors.js';
import { ConnectionClosedError, InvalidArgumentError } from '../../core/errors.js';
import { connect, resolveConnectOptions, type ConnectOptions } from '../connect.js';
import { optionalFunction, optionsObject } from '../options.js';
import { parseWebSocketURL } from '../url.js';
import type { WebSocket } from '../websocket.js';
import { systemTimers, WheelTimer, type TimerService } from '../../node/timer-wheel.js';
import { waitOn } from './clock.js';
import {
  backoffDelay,
  checkShouldReconnect,
  defaultDecision,
  resolveBackoff,
  resolveLiveness,
  retryAfterOf,
  type BackoffOptions,
  type LivenessOptions,
  type ReconnectDecision,
  type ReconnectEnding,
  type ResolvedBackoff,
} from './policy.js';
import { CloseCode } from '../../core/close-code.js';

/** A value given once, or a function called before every attempt (a fresh token, another server). */
export type PerAttempt<T> = T | (() => T | Promise<T>);

/** The URL of `reconnecting()`: fixed, or a function called per attempt. */
export type ReconnectURL = PerAttempt<string | URL>;

/** What the engine tells `onBackoff` before each wait. */
export interface BackoffInfo {
  /** The ending that led to the wait. */
  ending: ReconnectEnding;
  /** What was decided for it ('now' or 'backoff'). */
  decision: Exclude<ReconnectDecision, 'stop'>;
  /** Connection attempts already made in this outage. */
  attempt: number;
  /** The wait, in ms (0 for 'now'). */
  delay: number;
}

/** Options of `reconnecting()`: connect()'s (without `retry`, which this replaces), the backoff's and the engine's own. */
export interface ReconnectOptions extends Omit<ConnectOptions, 'headers' | 'protocols' | 'retry'>, BackoffOptions {
  /** Request headers, or a function called before every attempt (fresh credentials). Default none. */
  headers?: PerAttempt<ConnectOptions['headers']>;
  /** Subprotocols to offer, or a function called before every attempt. Default none. */
  protocols?: PerAttempt<ConnectOptions['protocols']>;
  /**
   * Overrides the ending table: called after every ending with the ending and the table's
   * decision; return 'stop', 'now' or 'backoff' (true means 'backoff', false 'stop'), or
   * undefined to keep the table's. Default: the table (docs/client.md).
   */
  shouldReconnect?: (ending: ReconnectEnding, decision: ReconnectDecision) => ReconnectDecision | boolean | undefined;
  /**
   * Client liveness: `{ interval, timeout }` in ms (default 15 s and 10 s), or false. A ping is
   * sent every `interval`; when its pong is not back within `timeout` the connection is
   * terminated and counts as a 1006 ending with `livenessTimeout: true`.
   */
  liveness?: LivenessOptions | false;
  /** Called before every wait (for logging); default none. */
  onBackoff?: (info: BackoffInfo) => void;
  /** Stops reconnecting: ends a wait or an attempt at once; the open connection is closed with 1000. */
  signal?: AbortSignal;
  /**
   * The timer service (wheels over a monotonic clock, node/timer-wheel.ts) of every wait and
   * liveness timer, and of uptimes and the queue's time to live; default the process's
   * (`systemTimers`). For tests and simulations: one built over a fake clock runs the schedule
   * without real waiting.
   */
  timers?: TimerService;
  /**
   * Wall-clock milliseconds since the epoch; default `Date.now`. Only a Retry-After given as an
   * HTTP date reads it: that date is wall time, which the monotonic clock of `timers` is not.
   */
  wallNow?: () => number;
  /** The random source of the jitter, uniform in [0, 1); default Math.random. */
  random?: () => number;
}

/** The engine's own option names; everything else goes to connect(), which checks it. */
const ENGINE_NAMES = [
  'minDelay',
  'maxDelay',
  'maxAttempts',
  'maxElapsed',
  'minUptime',
  'maxRetryAfter',
  'shouldReconnect',
  'liveness',
  'onBackoff',
  'timers',
  'wallNow',
  'random',
  'headers',
  'protocols',
  'signal',
] as const;

/** How a yielded connection ended, as the engine saw it. */
interface Ended {
  /** When the close came (on the engine's clock): the uptime ends here, not when the next connection is asked for. */
  at: number;
  code: number;
  reason: string;
  livenessTimeout: boolean;
}

/**
 * The engine. `connections()` may be iterated once; `stop()` ends it from outside (what
 * ReconnectingWebSocket.close() and an aborted `signal` do).
 */
export class ReconnectEngine {
  readonly #url: ReconnectURL;
  readonly #connectOptions: ConnectOptions;
  readonly #headers: ReconnectOptions['headers'];
  readonly #protocols: ReconnectOptions['protocols'];
  readonly #backoff: ResolvedBackoff;
  readonly #liveness: { interval: number; timeout: number } | null;
  readonly #shouldReconnect: ReconnectOptions['shouldReconnect'];
  readonly #onBackoff: ReconnectOptions['onBackoff'];
  readonly #timers: TimerService;
  readonly #wallNow: () => number;
  readonly #random: () => number;
  readonly #stopper = new AbortController();
  #current: WebSocket | null = null;

  /** Checks every option before anything is dialed; InvalidArgumentError or InvalidURLError otherwise. */
  constructor(url: ReconnectURL, given?: ReconnectOptions) {
    const options = optionsObject('reconnecting()', given) as ReconnectOptions;
    const connectOptions: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(options)) {
      if (!(ENGINE_NAMES as readonly string[]).includes(name)) connectOptions[name] = value;
    }
    if ('retry' in connectOptions) {
      throw new InvalidArgumentError('reconnecting() does its own retrying: use minDelay, maxDelay, maxAttempts and maxElapsed instead of retry');
    }
    // Fixed headers and protocols are checked with the rest now; functions when they are called.
    resolveConnectOptions(
      {
        ...connectOptions,
        headers: typeof options.headers === 'function' ? undefined : options.headers,
        protocols: typeof options.protocols === 'function' ? undefined : options.protocols,
      },
      'reconnecting()',
    );
    if (typeof url !== 'function') parseWebSocketURL(url); // a URL that cannot be dialed fails now, not per attempt
    this.#url = url;
    this.#connectOptions = connectOptions as ConnectOptions;
    this.#headers = options.headers;
    this.#protocols = options.protocols;
    this.#backoff = resolveBackoff(options);
    this.#liveness = resolveLiveness(options.liveness);
    checkShouldReconnect(options.shouldReconnect);
    optionalFunction('onBackoff', options.onBackoff);
    optionalFunction('random', options.random);
    this.#shouldReconnect = options.shouldReconnect;
    this.#onBackoff = options.onBackoff;
    optionalFunction('wallNow', options.wallNow);
    this.#timers = options.timers ?? systemTimers;
    this.#wallNow = options.wallNow ?? Date.now;
    this.#random = options.random ?? Math.random;
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
    if (signal?.aborted) this.stop();
    else signal?.addEventListener('abort', () => this.stop(), { once: true });
  }

  /** The timer service the engine waits on (ReconnectingWebSocket times its queue on its clock too). */
  get timers(): TimerService {
    return this.#timers;
  }

  /** True once stop() was called or the signal aborted. */
  get stopped(): boolean {
    return this.#stopper.signal.aborted;
  }

  /** Ends reconnecting: a wait or an attempt in progress ends at once, an open connection is closed with 1000. */
  stop(): void {
    if (this.#stopper.signal.aborted) return;
    this.#stopper.abort();
    const ws = this.#current;
    if (ws !== null && ws.readyState === 'open') ws.close(CloseCode.NormalClosure).catch(() => {});
  }

  /**
   * A fresh open WebSocket each time the last one ended, until an ending the table (or
   * `shouldReconnect`) says stop: then the iteration ends after a close, or throws the
   * handshake error after a refusal. Throws the last error when maxAttempts or maxElapsed run out.
   * Asking for the next connection waits until the current one has ended.
   */
  async *connections(): AsyncGenerator<WebSocket, void, undefined> {
    const timers = this.#timers;
    const stop = this.#stopper.signal;
    let attempt = 0;
    let outageStart = timers.now();
    let wait: number | null = null;
    try {
      for (;;) {
        if (wait !== null && !(await waitOn(timers, wait, stop))) return;
        if (stop.aborted) return;
        attempt++;
        let ws: WebSocket;
        try {
          ws = await this.#attempt();
        } catch (error) {
          if (stop.aborted) return;
          const ending = this.#endingOf(error);
          const decision = this.#decide(ending);
          if (decision === 'stop') throw error;
          wait = this.#waitFor(ending, decision, attempt, outageStart, error as Error);
          continue;
        }
        if (stop.aborted) {
          ws.terminate();
          return;
        }
        this.#current = ws;
        const openedAt = timers.now();
        const ended = this.#watch(ws);
        yield ws;
        const end = await ended;
        this.#current = null;
        if (stop.aborted) return;
        const uptime = end.at - openedAt;
        if (uptime >= this.#backoff.minUptime) {
          // A connection that lived long enough was a success: a new outage starts with its end.
          attempt = 0;
          outageStart = end.at;
        }
        const ending: ReconnectEnding = { type: 'close', code: end.code, reason: end.reason, uptime, livenessTimeout: end.livenessTimeout };
        let decision = this.#decide(ending);
        if (decision === 'stop') return;
        // "At once" only after a connection that lived: one that closes 1012 right after opening, again and again, backs off.
        if (decision === 'now' && attempt > 0) decision = 'backoff';
        wait = this.#waitFor(ending, decision, attempt, outageStart, new ConnectionClosedError(end.code, end.reason, false));
      }
    } finally {
      const ws = this.#current;
      this.#current = null;
      // The consumer left the loop (break, return, a throw): its connection goes with it.
      if (ws !== null && ws.readyState === 'open') ws.close(CloseCode.NormalClosure).catch(() => {});
    }
  }

  /** One connect() with the per-attempt values; the engine's stop aborts it. */
  async #attempt(): Promise<WebSocket> {
    const url = typeof this.#url === 'function' ? await this.#url() : this.#url;
    const headers = typeof this.#headers === 'function' ? await this.#headers() : this.#headers;
    const protocols = typeof this.#protocols === 'function' ? await this.#protocols() : this.#protocols;
    const userSignal = this.#connectOptions.signal;
    const signal = userSignal === undefined ? this.#stopper.signal : AbortSignal.any([userSignal, this.#stopper.signal]);
    return connect(url, { ...this.#connectOptions, headers, protocols, signal });
  }

  /** The ending of a failed attempt; errors that no retry can fix (bad URL, bad option) are rethrown. */
  #endingOf(error: unknown): ReconnectEnding {
    if (error instanceof HandshakeError) {
      return { type: 'handshake', status: error.status, retryAfter: retryAfterOf(error, this.#wallNow()), error };
    }
    if (error instanceof ConnectError) return { type: 'network', error };
    throw error;
  }

  #decide(ending: ReconnectEnding): ReconnectDecision {
    const table = defaultDecision(ending);
    const hook = this.#shouldReconnect;
    if (hook === undefined) return table;
    const answer = hook(ending, table);
    if (answer === undefined) return table;
    if (answer === true) return 'backoff';
    if (answer === false) return 'stop';
    if (answer === 'stop' || answer === 'now' || answer === 'backoff') return answer;
    throw new InvalidArgumentError(`shouldReconnect returned ${String(answer)}: expected 'stop', 'now', 'backoff', a boolean or undefined`);
  }

  /** The wait before the next attempt; throws `last` when maxAttempts or maxElapsed would be passed. */
  #waitFor(ending: ReconnectEnding, decision: 'now' | 'backoff', attempt: number, outageStart: number, last: Error): number {
    const b = this.#backoff;
    if (attempt >= b.maxAttempts) throw last;
    let delay = decision === 'now' ? 0 : backoffDelay(attempt, b.minDelay, b.maxDelay, this.#random);
    if (ending.type === 'handshake' && ending.retryAfter !== null) delay = Math.max(delay, Math.min(ending.retryAfter, b.maxRetryAfter));
    if (this.#timers.now() + delay - outageStart > b.maxElapsed) throw last;
    this.#onBackoff?.({ ending, decision, attempt, delay });
    return delay;
  }

  /** Resolves when `ws` has closed; runs the liveness pings meanwhile. */
  #watch(ws: WebSocket): Promise<Ended> {
    return new Promise<Ended>((resolve) => {
      const timers = this.#timers;
      const liveness = this.#liveness;
      let livenessTimeout = false;
      let answered = false;
      // Not ref'd: the open socket keeps the process alive while it is watched.
      const pongWait = new WheelTimer(
        () => {
          if (answered) return;
          livenessTimeout = true;
          ws.terminate();
        },
        { timers },
      );
      const pingWait = new WheelTimer(
        () => {
          if (ws.readyState !== 'open') return;
          answered = false;
          ws.ping().then(
            () => {
              answered = true;
              if (ws.readyState !== 'open') return;
              pongWait.cancel();
              pingWait.schedule(liveness!.interval);
            },
            () => {},
          );
          pongWait.schedule(liveness!.timeout);
        },
        { timers },
      );
      if (liveness !== null) pingWait.schedule(liveness.interval);
      ws.once('close', (code, reason) => {
        pingWait.cancel();
        pongWait.cancel();
        resolve({ at: timers.now(), code: livenessTimeout ? CloseCode.AbnormalClosure : code, reason: livenessTimeout ? `no pong within ${liveness!.timeout} ms` : reason, livenessTimeout });
      });
    });
  }
}

/**
 * `for await (const ws of reconnecting(url, options))`: a fresh open connection each time the
 * last one ended, with backoff, the ending table, Retry-After and liveness (docs/client.md
 * "Reconnection"). The options are checked now, before anything is dialed. Breaking out of the
 * loop closes the current connection.
 */
export function reconnecting(url: ReconnectURL, options?: ReconnectOptions): AsyncGenerator<WebSocket, void, undefined> {
  return new ReconnectEngine(url, options).connections();
}
