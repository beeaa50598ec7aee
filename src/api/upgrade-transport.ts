/**
 * What the upgrade pipeline's transports (http1-upgrade.ts, hybi00-upgrade.ts, http2-upgrade.ts)
 * do alike around the pipeline: deciding without ever throwing, keeping an upgrade in the server's
 * pending count until exactly one way out ends it, and writing a refusal on a socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpRefusal } from '../core/handshake.js';
import { internalErrorRefusal, refuseUpgrade, timeoutRefusal } from '../node/upgrade.js';
import { decideUpgrade, type HandshakeFacts, type UpgradeDecision, type UpgradeInput, type UpgradeServer } from './upgrade-pipeline.js';

/** What a transport's server counts and tells about refusals (a part of Http1Host). */
interface RefusalHost extends Pick<UpgradeServer, 'reportError'> {
  /** An upgrade ended without a connection. */
  end(): void;
  /** A refusal is about to be written: counted and told to 'refused' listeners. */
  refused(req: IncomingMessage, answer: HttpRefusal): void;
}

/** The pipeline's description of a request read by node:http (HTTP/1.1 or hybi-00): its own fields, and the transport's handshake check. */
export function socketUpgradeInput<Facts extends HandshakeFacts>(req: IncomingMessage, handshake: UpgradeInput<Facts>['handshake']): UpgradeInput<Facts> {
  return {
    req,
    method: req.method ?? '',
    url: req.url ?? '',
    httpVersion: req.httpVersion,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    handshake,
  };
}

/**
 * The pipeline's decision, or a 500 when deciding threw (a bug of ours or an exotic request
 * object, reported to the server): a client is never left hanging.
 */
export function decideOrRefuse<Facts extends HandshakeFacts>(input: UpgradeInput<Facts>, host: UpgradeServer): UpgradeDecision<Facts> | HttpRefusal {
  try {
    return decideUpgrade(input, host);
  } catch (error) {
    host.reportError(error, input.req);
    return internalErrorRefusal();
  }
}

/**
 * An upgrade in the server's pending count (its transport called host.begin()), so that slow
 * accept hooks cannot let more than maxConnections in. Exactly one way out ends the count:
 * end() for every way that opens nothing, handedOver() when host.opened() takes the connection
 * from pending to open itself.
 */
export class PendingUpgrade {
  readonly #host: RefusalHost;
  readonly #req: IncomingMessage;
  #counted = true;

  constructor(host: RefusalHost, req: IncomingMessage) {
    this.#host = host;
    this.#req = req;
  }

  /** True until the count was ended or handed over. */
  get counted(): boolean {
    return this.#counted;
  }

  /** Ends the count; later calls do nothing. */
  end(): void {
    if (this.#counted) {
      this.#counted = false;
      this.#host.end();
    }
  }

  /** The connection opened: host.opened() moves it from pending to open. */
  handedOver(): void {
    this.#counted = false;
  }

  /** The handshake timer fired: ends the count and returns the 408 to write, told to 'refused' listeners. */
  expired(): HttpRefusal {
    this.end();
    const answer = timeoutRefusal();
    this.#host.refused(this.#req, answer);
    return answer;
  }
}

/** Answers a refused upgrade on a socket (and tells 'refused' listeners). */
export function writeRefusal(host: RefusalHost, req: IncomingMessage, socket: Duplex, answer: HttpRefusal): void {
  host.refused(req, answer);
  refuseUpgrade(socket, answer);
}

/**
 * The way out of a socket transport's open() that threw (a headers function, headers that
 * cannot be sent, a bug of ours, an exotic socket): reported, the count ended if it still runs,
 * and a 500 unless the answer was written already, past which no HTTP answer is possible and the
 * socket is destroyed. Never leaves the client hanging or the count wrong.
 */
export function failedOpen(host: RefusalHost, req: IncomingMessage, socket: Duplex, error: unknown, counted: boolean, written: boolean): null {
  host.reportError(error, req);
  if (counted) host.end();
  if (!written) writeRefusal(host, req, socket, internalErrorRefusal());
  else socket.destroy();
  return null;
}
