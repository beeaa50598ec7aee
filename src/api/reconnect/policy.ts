/**
 * What the reconnection engine decides, as pure functions: which endings reconnect (the ending
 * table of docs/client.md), how long to wait (full-jitter backoff, Retry-After), and the checked
 * options with their defaults. No I/O here, so every rule is tested without a socket or a timer.
 */
import { ConnectError, HandshakeError } from '../../node/errors.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { count, duration, optionalFunction } from '../options.js';
import { CloseCode } from '../../core/close-code.js';

/** Default `minDelay`: 1 s, the ceiling of the first (random) wait after a drop. */
export const DEFAULT_RECONNECT_MIN_DELAY = 1_000;
/** Default `maxDelay`: 30 s, the longest backoff wait, however many tries failed. */
export const DEFAULT_RECONNECT_MAX_DELAY = 30_000;
/**
 * Default `minUptime`: 5 s. A connection that lived this long counts as a success and resets the
 * attempt count; one that drops sooner (a server that accepts and then closes at once) does not,
 * so such a loop still backs off.
 */
export const DEFAULT_MIN_UPTIME = 5_000;
/**
 * Default `maxRetryAfter`: 5 min. A Retry-After longer than this (or a date further away) waits
 * this long instead, so a wrong or hostile header cannot park the client for days.
 */
export const DEFAULT_MAX_RETRY_AFTER = 300_000;
/** Default `liveness.interval`: a ping every 15 s while connected. */
export const DEFAULT_LIVENESS_INTERVAL = 15_000;
/**
 * Default `liveness.timeout`: 10 s for the pong. A half-open link (the peer or a NAT lost the
 * flow, and TCP alone may take many minutes to notice) is found within interval + timeout.
 */
export const DEFAULT_LIVENESS_TIMEOUT = 10_000;

/** How a connection (or an attempt at one) ended: what `shouldReconnect` is asked about. */
export type ReconnectEnding =
  | {
      /** The connection was open and closed; `code` is 1006 when no close frame came. */
      type: 'close';
      code: number;
      reason: string;
      /** How long it was open, in ms. */
      uptime: number;
      /** True when the engine ended it because a liveness ping found no pong in time. */
      livenessTimeout: boolean;
    }
  | {
      /** The server answered the upgrade with something other than a valid 101. */
      type: 'handshake';
      status: number;
      /** Retry-After of a 429 or 503 answer, in ms from now; null when absent, unparsable or another status. */
      retryAfter: number | null;
      error: HandshakeError;
    }
  | {
      /** DNS, TCP or TLS failed, or the handshake timed out. */
      type: 'network';
      error: ConnectError;
    };

/** What to do after an ending: stop, reconnect at once, or wait a backoff delay first. */
export type ReconnectDecision = 'stop' | 'now' | 'backoff';

/**
 * Close codes after which the same connection would end the same way again: the peer said it is
 * done (1000) or refuses us (1008), or the two sides disagree about the protocol (1002, 1003,
 * 1007, 1009, 1010), which a new connection does not change.
 */
const STOP_CODES: ReadonlySet<number> = new Set<number>([
  CloseCode.NormalClosure,
  CloseCode.ProtocolError,
  CloseCode.UnsupportedData,
  CloseCode.InvalidPayload,
  CloseCode.PolicyViolation,
  CloseCode.MessageTooBig,
  CloseCode.MandatoryExtension,
]);
/** Close codes that announce a server going away or restarting: come back at once. */
const NOW_CODES: ReadonlySet<number> = new Set<number>([CloseCode.GoingAway, CloseCode.ServiceRestart]);

/**
 * The ending table (docs/client.md "Reconnection"):
 * - handshake: 408, 429, 5xx and status 0 (no usable answer) back off; every other 4xx, a
 *   redirect that was not followed and a 101 that failed its checks stop (asking again gets the
 *   same answer);
 * - network failures and handshake timeouts back off;
 * - closes: 1000, 1008 and the protocol disagreements 1002/1003/1007/1009/1010 stop; 1001 and
 *   1012 reconnect at once; everything else (1005, 1006, 1011, 1013, 1014, 3000-4999) backs off.
 *   4000-4999 belong to the application: by default they back off like 1011, and
 *   `shouldReconnect` is where an application gives its own codes a meaning.
 */
export function defaultDecision(ending: ReconnectEnding): ReconnectDecision {
  switch (ending.type) {
    case 'network':
      return 'backoff';
    case 'handshake': {
      const { status } = ending;
      if (status === 0 || status === 408 || status === 429 || status >= 500) return 'backoff';
      return 'stop';
    }
    case 'close':
      if (STOP_CODES.has(ending.code)) return 'stop';
      if (NOW_CODES.has(ending.code)) return 'now';
      return 'backoff';
  }
}

/**
 * The backoff wait before try `attempt` of an outage (0 for the first): full jitter, uniform
 * between 0 and min(maxDelay, minDelay * 2^attempt). The first wait is random too (between 0 and
 * minDelay), so clients that lost the same server do not all come back in the same millisecond.
 */
export function backoffDelay(attempt: number, minDelay: number, maxDelay: number, random: () => number): number {
  const ceiling = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * ceiling);
}

/**
 * Retry-After (RFC 9110 section 10.2.3) in ms from `now`: delay-seconds or an HTTP date. Null for
 * a missing or unparsable value; a date in the past is 0.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  // An HTTP date has a weekday, a comma and a zone; Date.parse reads IMF-fixdate and the obsolete forms.
  if (text.length > 64 || !/^[A-Za-z]{3}/.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/** Retry-After of a handshake refusal, for the statuses where it asks the client to wait (429, 503). */
export function retryAfterOf(error: HandshakeError, now: number): number | null {
  if (error.status !== 429 && error.status !== 503) return null;
  return parseRetryAfter(error.headers['retry-after'], now);
}

/** The backoff options of `reconnecting()` and `ReconnectingWebSocket`. */
export interface BackoffOptions {
  /** Ceiling of the first wait after a drop, and the base of the exponential growth, in ms; default 1 s. */
  minDelay?: number;
  /** Longest backoff wait in ms; default 30 s. A Retry-After may ask for longer (up to maxRetryAfter). */
  maxDelay?: number;
  /** Connection attempts in one outage before giving up; default Infinity. */
  maxAttempts?: number;
  /** Ms from the start of an outage after which no further attempt is made; default Infinity. */
  maxElapsed?: number;
  /** Ms a connection must stay open to count as a success and reset the attempt count; default 5 s. */
  minUptime?: number;
  /** Longest wait a Retry-After header can ask for, in ms; default 5 min. */
  maxRetryAfter?: number;
}

/** BackoffOptions with defaults applied. */
export interface ResolvedBackoff {
  minDelay: number;
  maxDelay: number;
  maxAttempts: number;
  maxElapsed: number;
  minUptime: number;
  maxRetryAfter: number;
}

/** Checks and completes BackoffOptions; InvalidArgumentError names the first bad one. */
export function resolveBackoff(options: BackoffOptions): ResolvedBackoff {
  const minDelay = duration('minDelay', options.minDelay, DEFAULT_RECONNECT_MIN_DELAY);
  const maxDelay = duration('maxDelay', options.maxDelay, Math.max(DEFAULT_RECONNECT_MAX_DELAY, minDelay));
  if (maxDelay < minDelay) throw new InvalidArgumentError(`maxDelay (${maxDelay}) must not be below minDelay (${minDelay})`);
  const maxElapsed = options.maxElapsed === Infinity ? Infinity : duration('maxElapsed', options.maxElapsed, Infinity);
  return {
    minDelay,
    maxDelay,
    maxAttempts: count('maxAttempts', options.maxAttempts, Infinity, 1, true),
    maxElapsed,
    minUptime: duration('minUptime', options.minUptime, DEFAULT_MIN_UPTIME),
    maxRetryAfter: duration('maxRetryAfter', options.maxRetryAfter, DEFAULT_MAX_RETRY_AFTER),
  };
}

/** `liveness`: a ping every `interval` ms; no pong within `timeout` ms ends the connection. */
export interface LivenessOptions {
  /** Ms between pings while connected; default 15 s. */
  interval?: number;
  /** Ms to wait for the pong; default 10 s. */
  timeout?: number;
}

/** Checks `liveness`: false turns it off; null is the result then. */
export function resolveLiveness(value: LivenessOptions | false | undefined): Required<LivenessOptions> | null {
  if (value === false) return null;
  if (value !== undefined && (value === null || typeof value !== 'object')) {
    throw new InvalidArgumentError('liveness must be false or { interval, timeout }');
  }
  const interval = duration('liveness.interval', value?.interval, DEFAULT_LIVENESS_INTERVAL);
  const timeout = duration('liveness.timeout', value?.timeout, DEFAULT_LIVENESS_TIMEOUT);
  if (interval === 0 || timeout === 0) throw new InvalidArgumentError('liveness.interval and liveness.timeout must be above 0 (use liveness: false to turn it off)');
  return { interval, timeout };
}

/** Checks a `shouldReconnect` hook. */
export function checkShouldReconnect(value: unknown): void {
  optionalFunction('shouldReconnect', value);
}
