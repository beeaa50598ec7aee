/**
 * A server's metrics: what `WebSocketServer.metrics()` returns, and the collector behind it.
 *
 * Counting costs the hot paths one integer increment per message (in the connection's driver,
 * see SocketDriver.messagesIn) and nothing more: a connection's counters are read when a
 * snapshot is taken, and added to the server's totals once, when it closes. Refusals, closes and
 * ping round trips are rare events and are counted as they happen. `toPrometheus()` renders a
 * snapshot in the Prometheus text exposition format, version 0.0.4, without any dependency.
 */
import type { Duplex } from 'node:stream';
import { isConnectionFailure } from '../core/failure-errors.js';
import type { HttpRefusal } from '../core/handshake.js';
import { DeflateCodec } from '../node/deflate-codec.js';
import { closedByName, publishReject, refusalReason } from '../node/diagnostics.js';
import { connectionInternals } from './connection-internals.js';
import { type WebSocket } from './websocket.js';

/**
 * Upper bounds (in seconds) of the ping round-trip histogram's buckets: from a millisecond on a
 * LAN to ten seconds on a congested mobile link, roughly 2.5 times apart.
 */
export const PING_RTT_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * At most this many distinct refusal (status, reason) pairs are told apart; later ones count as
 * reason "other". An accept hook's bodies are the application's, so the set is bounded here
 * rather than trusted to stay small.
 */
export const MAX_REFUSAL_REASONS = 64;

/** Refusal reasons longer than this are cut (label values are for dashboards, not for prose). */
const MAX_REASON_LENGTH = 80;

/** How connections ended: both close frames exchanged, failed by us (a protocol error or a bound), or cut off. */
export interface CloseOutcomes {
  /** Both close frames were exchanged (RFC 6455 section 7.1.5). */
  clean: number;
  /** We failed the connection: the peer broke the protocol or one of our bounds (a close code >= 1002 was sent). */
  failed: number;
  /** The transport went without a closing handshake: the peer vanished, a close timed out, terminate(). */
  abnormal: number;
}

/** Bytes of permessage-deflate messages before and after compression, for one direction. */
export interface DeflateFigures {
  /** Message bytes before compression (sent) or after decompression (received). */
  raw: number;
  /** The same messages' bytes compressed, as they crossed the wire (frame headers excluded). */
  compressed: number;
  /** compressed / raw (lower is better), or null before any compressed message. */
  ratio: number | null;
}

/** A point-in-time copy of a server's figures; see docs/observability.md for each. */
export interface MetricsSnapshot {
  connections: {
    /** Open now. */
    open: number;
    /** Accepted since the server was made (handshakes answered with 101). */
    accepted: number;
    /** Upgrade requests (or connections over maxConnections) answered with an HTTP error. */
    refused: number;
    /** Closed connections, by how they ended. */
    closed: CloseOutcomes;
    /** Closed connections, by which side started the end ('none': neither sent a close frame). */
    closedBy: { local: number; remote: number; none: number };
  };
  /** Refused handshakes by HTTP status and reason (the first line of the answer's body). */
  refusals: { status: number; reason: string; count: number }[];
  /** Whole messages, both directions (a broadcast counts once per client). */
  messages: { received: number; sent: number };
  /** Bytes on the wire after the handshake, frame headers and control frames included. */
  bytes: { received: number; sent: number };
  /** Closed connections by close code (1006 when the transport went without one), ascending. */
  closeCodes: { code: number; count: number }[];
  /** Bytes accepted by send() but not yet written out, summed over the open connections. */
  bufferedBytes: number;
  /** Round trips of the pings the server sent (keep-alive and ws.ping()) that were answered, in seconds. */
  pingRoundTrip: {
    /** Cumulative counts: how many took at most `le` seconds; the last has `le` Infinity. */
    buckets: { le: number; count: number }[];
    sum: number;
    count: number;
  };
  /** permessage-deflate figures; zero until a connection negotiated and used it. */
  deflate: { sent: DeflateFigures; received: DeflateFigures };
  /** The snapshot in the Prometheus text exposition format 0.0.4. */
  toPrometheus(): string;
}

/** The running sums of one server's connections. */
interface Totals {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  rawSent: number;
  compressedSent: number;
  compressedReceived: number;
  rawReceived: number;
}

function zeroTotals(): Totals {
  return { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, rawSent: 0, compressedSent: 0, compressedReceived: 0, rawReceived: 0 };
}

/** Adds one connection's counters into `into`. */
function addConnection(into: Totals, ws: WebSocket): void {
  const driver = connectionInternals.driver(ws);
  into.messagesIn += driver.messagesIn;
  into.messagesOut += driver.messagesOut;
  into.bytesIn += driver.bytesIn;
  into.bytesOut += driver.bytesOut;
  for (const codec of driver.codecs) {
    if (codec instanceof DeflateCodec) {
      into.rawSent += codec.rawSent;
      into.compressedSent += codec.compressedSent;
      into.compressedReceived += codec.compressedReceived;
      into.rawReceived += codec.rawReceived;
    }
  }
}

/**
 * @internal One server's collector. The server calls `refused` for every HTTP error it answers
 * an upgrade with, `track` for every connection it opens and `closed` when it closes, and hands
 * it to each connection as the observer of ping round trips.
 */
export class ServerMetrics {
  #accepted = 0;
  #refusedTotal = 0;
  readonly #refusals = new Map<string, { status: number; reason: string; count: number }>();
  readonly #closed: CloseOutcomes = { clean: 0, failed: 0, abnormal: 0 };
  readonly #closedBy = { local: 0, remote: 0, none: 0 };
  readonly #closeCodes = new Map<number, number>();
  /** The counters of connections already closed. */
  readonly #totals: Totals = zeroTotals();
  /** Per-bucket (not cumulative) counts of ping round trips; the last is above every bound. */
  readonly #rtt: number[] = new Array<number>(PING_RTT_BUCKETS.length + 1).fill(0);
  #rttSum = 0;
  #rttCount = 0;
  /** An upgrade was answered with an HTTP error: counted, and published on `hybi:server:reject`. */
  refused(request: unknown, socket: Duplex, answer: HttpRefusal): void {
    this.#refusedTotal++;
    let reason = refusalReason(answer.body);
    if (reason.length > MAX_REASON_LENGTH) reason = reason.slice(0, MAX_REASON_LENGTH);
    let key = `${answer.status} ${reason}`;
    let entry = this.#refusals.get(key);
    if (entry === undefined && this.#refusals.size >= MAX_REFUSAL_REASONS) {
      reason = 'other';
      key = `${answer.status} other`;
      entry = this.#refusals.get(key);
    }
    if (entry === undefined) this.#refusals.set(key, (entry = { status: answer.status, reason, count: 0 }));
    entry.count++;
    publishReject(request, socket, answer.status, answer.body);
  }

  /** A connection was accepted (101 sent): counted now; its counters are summed when it closes (`closed`). */
  track(_ws: WebSocket): void {
    this.#accepted++;
  }

  /** A ping of ours was answered after `ms` milliseconds. */
  pingRoundTrip(ms: number): void {
    const seconds = ms / 1000;
    let i = 0;
    while (i < PING_RTT_BUCKETS.length && seconds > PING_RTT_BUCKETS[i]!) i++;
    this.#rtt[i]!++;
    this.#rttSum += seconds;
    this.#rttCount++;
  }

  /**
   * A tracked connection closed (the server's own 'close' listener calls this, so that metrics
   * add no listener per connection): its counters join the totals, once.
   */
  closed(ws: WebSocket): void {
    addConnection(this.#totals, ws);
    const result = connectionInternals.closeResult(ws);
    if (result === null) return;
    if (result.wasClean) this.#closed.clean++;
    else if (isConnectionFailure(result.error)) this.#closed.failed++;
    else this.#closed.abnormal++;
    this.#closedBy[closedByName(connectionInternals.driver(ws).closedBy)]++;
    this.#closeCodes.set(result.code, (this.#closeCodes.get(result.code) ?? 0) + 1);
  }

  /** The figures now; `open` are the server's open connections (whose counters are read here). */
  snapshot(open: ReadonlySet<WebSocket>): MetricsSnapshot {
    const sums: Totals = { ...this.#totals };
    let buffered = 0;
    for (const ws of open) {
      addConnection(sums, ws);
      buffered += ws.bufferedAmount;
    }
    const buckets: { le: number; count: number }[] = [];
    let cumulative = 0;
    for (let i = 0; i < PING_RTT_BUCKETS.length; i++) {
      cumulative += this.#rtt[i]!;
      buckets.push({ le: PING_RTT_BUCKETS[i]!, count: cumulative });
    }
    buckets.push({ le: Infinity, count: this.#rttCount });
    const snapshot: Omit<MetricsSnapshot, 'toPrometheus'> = {
      connections: {
        open: open.size,
        accepted: this.#accepted,
        refused: this.#refusedTotal,
        closed: { ...this.#closed },
        closedBy: { ...this.#closedBy },
      },
      refusals: [...this.#refusals.values()].map((r) => ({ ...r })),
      messages: { received: sums.messagesIn, sent: sums.messagesOut },
      bytes: { received: sums.bytesIn, sent: sums.bytesOut },
      closeCodes: [...this.#closeCodes].sort((a, b) => a[0] - b[0]).map(([code, count]) => ({ code, count })),
      bufferedBytes: buffered,
      pingRoundTrip: { buckets, sum: this.#rttSum, count: this.#rttCount },
      deflate: {
        sent: figures(sums.rawSent, sums.compressedSent),
        received: figures(sums.rawReceived, sums.compressedReceived),
      },
    };
    return Object.assign(snapshot, {
      toPrometheus(): string {
        return toPrometheus(snapshot);
      },
    });
  }
}

function figures(raw: number, compressed: number): DeflateFigures {
  return { raw, compressed, ratio: raw === 0 ? null : compressed / raw };
}

// The text exposition format 0.0.4: '# HELP name text' and '# TYPE name type' once per metric
// family, then one 'name{label="value",...} number' line per sample; counters end in _total, a
// histogram is its _bucket{le=...} lines (cumulative, ending with +Inf), _sum and _count.

/** A label value: backslash, double quote and line feed are escaped. */
function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function sampleValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

function labels(pairs: Record<string, string | number>): string {
  const parts = Object.entries(pairs).map(([name, value]) => `${name}="${labelValue(typeof value === 'number' ? sampleValue(value) : value)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Renders a snapshot as Prometheus text (content type `text/plain; version=0.0.4`). */
export function toPrometheus(m: Omit<MetricsSnapshot, 'toPrometheus'>): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: [Record<string, string | number>, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [pairs, value] of samples) out.push(`${name}${labels(pairs)} ${sampleValue(value)}`);
  };
  const c = m.connections;
  family('hybi_connections_open', 'gauge', 'WebSocket connections open now.', [[{}, c.open]]);
  family('hybi_connections_total', 'counter', 'WebSocket connections accepted (handshakes answered with 101).', [[{}, c.accepted]]);
  family('hybi_connections_closed_total', 'counter', 'WebSocket connections closed, by outcome: clean (both close frames), failed (by us, for a protocol error or a bound), abnormal (no closing handshake).', [
    [{ outcome: 'clean' }, c.closed.clean],
    [{ outcome: 'failed' }, c.closed.failed],
    [{ outcome: 'abnormal' }, c.closed.abnormal],
  ]);
  family('hybi_connections_closed_by_total', 'counter', 'WebSocket connections closed, by the side that started the end (none: no close frame from either side).', [
    [{ side: 'local' }, c.closedBy.local],
    [{ side: 'remote' }, c.closedBy.remote],
    [{ side: 'none' }, c.closedBy.none],
  ]);
  family('hybi_handshake_refusals_total', 'counter', 'Upgrade requests answered with an HTTP error, by status and reason.', m.refusals.map((r) => [{ status: r.status, reason: r.reason }, r.count]));
  family('hybi_close_codes_total', 'counter', 'Closed WebSocket connections by close code (1006: none received).', m.closeCodes.map((e) => [{ code: e.code }, e.count]));
  family('hybi_messages_received_total', 'counter', 'WebSocket messages received.', [[{}, m.messages.received]]);
  family('hybi_messages_sent_total', 'counter', 'WebSocket messages sent (a broadcast counts once per client).', [[{}, m.messages.sent]]);
  family('hybi_received_bytes_total', 'counter', 'Bytes read from WebSocket connections after the handshake, framing included.', [[{}, m.bytes.received]]);
  family('hybi_sent_bytes_total', 'counter', 'Bytes written to WebSocket connections after the handshake, framing included.', [[{}, m.bytes.sent]]);
  family('hybi_buffered_bytes', 'gauge', 'Bytes accepted by send() and not yet written out, over all open connections.', [[{}, m.bufferedBytes]]);
  const rtt = m.pingRoundTrip;
  out.push('# HELP hybi_ping_rtt_seconds Round trip of the pings the server sent, from ping to matching pong.', '# TYPE hybi_ping_rtt_seconds histogram');
  for (const b of rtt.buckets) out.push(`hybi_ping_rtt_seconds_bucket${labels({ le: b.le })} ${b.count}`);
  out.push(`hybi_ping_rtt_seconds_sum ${sampleValue(rtt.sum)}`, `hybi_ping_rtt_seconds_count ${rtt.count}`);
  family('hybi_deflate_raw_bytes_total', 'counter', 'permessage-deflate: message bytes before compression (sent) or after decompression (received).', [
    [{ direction: 'sent' }, m.deflate.sent.raw],
    [{ direction: 'received' }, m.deflate.received.raw],
  ]);
  family('hybi_deflate_compressed_bytes_total', 'counter', 'permessage-deflate: the same messages compressed, as they crossed the wire.', [
    [{ direction: 'sent' }, m.deflate.sent.compressed],
    [{ direction: 'received' }, m.deflate.received.compressed],
  ]);
  return `${out.join('\n')}\n`;
}
