/**
 * Keep-alive (node/keepalive.ts) and the other connection timers (node/connection-timers.ts),
 * run on a fake clock injected through the driver's timer service: time moves only when the test
 * moves it, so nothing here sleeps or depends on how loaded the machine is. The ping interval,
 * the pong timeout, the idle timeout, the closing-handshake bound and the message bound are
 * checked at the driver; `pongTimeout` end to end through the WebSocket at the end.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { encodeFrame } from '../../src/core/frame.js';
import { CloseTimeoutError, KeepaliveTimeoutError, MessageTimeoutError } from '../../src/node/errors.js';
import { type ConnectionFailure } from '../../src/core/errors.js';
import { parseClosePayload } from '../../src/core/close.js';
import { Opcode } from '../../src/core/opcode.js';
import {
  defineHold,
  onClosed,
  onFragment,
  onIdle,
  onKeepalive,
  onMessage,
  onPeerClose,
  onPing,
  onPong,
  onProtocolError,
  SocketDriver,
  type CloseResult,
  type DriverOptions,
} from '../../src/node/driver.js';
import { WebSocket } from '../../src/api/websocket.js';
import { duplexPair, type PairEnd } from '../helpers/duplex-pair.js';
import { fakeTimers, type FakeClock } from '../helpers/fake-clock.js';

type Frame = NonNullable<ReturnType<typeof decodeFrame>>['frame'];

const masked = (opcode: number, payload = ''): Uint8Array => encodeFrame({ opcode, payload: Buffer.from(payload), mask: true });

/** A driver on a fake clock over one end of an in-memory pair; the other end is the peer. */
class Harness {
  readonly clock: FakeClock;
  readonly driver: SocketDriver;
  readonly peer: PairEnd;
  readonly frames: Frame[] = [];
  keepalives = 0;
  idles = 0;
  pongs = 0;
  readonly errors: ConnectionFailure[] = [];
  result: CloseResult | null = null;
  private received = Buffer.alloc(0);

  constructor(options: Partial<DriverOptions>) {
    const { clock, timers } = fakeTimers();
    this.clock = clock;
    const [a, b] = duplexPair();
    this.peer = b;
    b.on('error', () => {});
    b.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      for (;;) {
        const decoded = decodeFrame(new Uint8Array(this.received));
        if (decoded === null) break;
        this.frames.push(decoded.frame);
        this.received = this.received.subarray(decoded.bytesConsumed);
      }
    });
    this.driver = new SocketDriver(
      a,
      { role: 'server', maxMessageSize: 1 << 20, pingInterval: 0, idleTimeout: 0, closeTimeout: 0, messageTimeout: 0, ...options, timers },
      {
        [onMessage]: () => {},
        [onFragment]: () => {},
        [onPing]: () => {},
        [onPong]: () => void this.pongs++,
        [onPeerClose]: () => {},
        [onProtocolError]: (error) => void this.errors.push(error),
        // As the WebSocket does: the owner sends the keep-alive ping.
        [onKeepalive]: () => {
          this.keepalives++;
          this.driver.sendPing();
        },
        [onIdle]: () => void this.idles++,
        [onClosed]: (result) => void (this.result = result),
      },
    );
    this.driver.start();
  }

  /** Moves the fake clock, then lets the in-memory streams deliver what that caused (no time passes). */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.settle();
  }

  /** Lets queued stream events run: a few turns of the event loop, with the fake clock standing still. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await turn();
  }

  /** The peer sends bytes; resolves once the driver has read them. */
  async send(bytes: Uint8Array): Promise<void> {
    const before = this.driver.bytesIn;
    this.peer.write(bytes);
    while (this.driver.bytesIn === before) await turn();
  }

  /** Resolves once the driver has reported how the connection ended (events only; at most 1000 turns). */
  async ended(): Promise<CloseResult> {
    for (let i = 0; i < 1000 && this.result === null; i++) await turn();
    assert.ok(this.result !== null, 'the driver reported its end');
    return this.result;
  }

  opcodes(): number[] {
    return this.frames.map((f) => f.opcode);
  }
}

describe('keep-alive on a fake clock', () => {
  test('a ping after pingInterval of silence, again every interval while it lasts, and not while the peer talks', async () => {
    const h = new Harness({ pingInterval: 1000 });
    await h.advance(990);
    assert.equal(h.keepalives, 0, 'not before the interval');
    await h.advance(30);
    assert.equal(h.keepalives, 1);
    assert.deepEqual(h.opcodes(), [Opcode.Ping]);
    await h.advance(1000);
    assert.equal(h.keepalives, 2, 'the silence lasts: another ping');
    // The peer talks every 600 ms: no silence reaches the interval.
    for (let i = 0; i < 5; i++) {
      await h.send(masked(Opcode.Text, 'hi'));
      await h.advance(600);
    }
    assert.equal(h.keepalives, 2);
    h.driver.terminate();
  });

  test('pongTimeout: a keep-alive ping without a pong fails the connection with 1011 and KeepaliveTimeoutError', async () => {
    const h = new Harness({ pingInterval: 1000, pongTimeout: 500, closeTimeout: 2000 });
    // The ping leaves at the first tick at or after 1000 ms (a wheel of 10 ms); its pong is due 500 ms later.
    await h.advance(1020);
    assert.equal(h.keepalives, 1);
    await h.advance(460);
    assert.equal(h.errors.length, 0, 'not before the pong timeout');
    await h.advance(50);
    assert.equal(h.errors.length, 1);
    assert.ok(h.errors[0] instanceof KeepaliveTimeoutError);
    assert.equal(h.errors[0]!.closeCode, 1011);
    assert.equal((h.errors[0] as KeepaliveTimeoutError).timeout, 500);
    const close = h.frames.at(-1)!;
    assert.equal(close.opcode, Opcode.Close);
    assert.equal(parseClosePayload(close.payload).code, 1011);
    // The peer is told why, on the wire (as Python websockets does), not only the local caller.
    assert.equal(parseClosePayload(close.payload).reason, 'keepalive ping timeout');
    // The peer never answers: the close bound ends it, with the keep-alive failure as the cause.
    await h.advance(2020);
    const result = await h.ended();
    assert.equal(result.code, 1011);
    assert.ok(result.error instanceof KeepaliveTimeoutError);
  });

  test('a pong within pongTimeout keeps the connection; the next silence brings the next ping', async () => {
    const h = new Harness({ pingInterval: 1000, pongTimeout: 500 });
    await h.advance(1020);
    assert.equal(h.keepalives, 1);
    await h.advance(300);
    await h.send(masked(Opcode.Pong));
    assert.equal(h.pongs, 1);
    await h.advance(400);
    assert.equal(h.errors.length, 0, 'answered: no failure at the pong deadline');
    await h.advance(700);
    assert.equal(h.keepalives, 2, 'a second ping after another interval of silence');
    await h.send(masked(Opcode.Pong));
    await h.advance(900);
    assert.equal(h.errors.length, 0);
    assert.equal(h.keepalives, 2);
    assert.equal(h.result, null);
    h.driver.terminate();
  });

  test('data without a pong does not answer the keep-alive ping', async () => {
    const h = new Harness({ pingInterval: 1000, pongTimeout: 500 });
    await h.advance(1020);
    await h.send(masked(Opcode.Text, 'busy, but no pong'));
    await h.advance(500);
    assert.ok(h.errors[0] instanceof KeepaliveTimeoutError);
    h.driver.terminate();
  });

  test('pongTimeout 0 (or no pingInterval) never fails the connection', async () => {
    const h = new Harness({ pingInterval: 1000, pongTimeout: 0 });
    await h.advance(10_000);
    assert.ok(h.keepalives >= 9);
    assert.equal(h.errors.length, 0);
    h.driver.terminate();
  });

  test('idleTimeout: the owner is told after that much silence, timed from the last read', async () => {
    const h = new Harness({ idleTimeout: 2000 });
    await h.advance(1500);
    await h.send(masked(Opcode.Text, 'still here'));
    await h.advance(1990);
    assert.equal(h.idles, 0, 'the read restarted the silence');
    await h.advance(30);
    assert.equal(h.idles, 1);
    assert.equal(h.keepalives, 0, 'no ping without pingInterval');
    h.driver.terminate();
  });

  test('time during which we hold reading counts as neither silence nor a missing pong', async () => {
    const hold = defineHold({ parsing: true, readAhead: false });
    const h = new Harness({ pingInterval: 1000, pongTimeout: 500, idleTimeout: 3000 });
    await h.advance(1020);
    assert.equal(h.keepalives, 1);
    h.driver.pause(hold);
    await h.advance(5000);
    assert.equal(h.idles, 0);
    assert.equal(h.errors.length, 0);
    h.driver.resume(hold);
    // Reading again: the pong wait starts over from the last check, and then fails.
    await h.advance(1100);
    assert.ok(h.errors[0] instanceof KeepaliveTimeoutError);
    h.driver.terminate();
  });
});

describe('connection timers on a fake clock', () => {
  test('closeTimeout: no answer to our close frame within it destroys the transport (CloseTimeoutError)', async () => {
    const h = new Harness({ closeTimeout: 3000 });
    h.driver.startClose(1000, 'bye');
    await h.advance(2990);
    assert.equal(h.result, null);
    assert.ok(!h.peer.destroyed);
    await h.advance(30);
    const result = await h.ended();
    assert.equal(result.code, 1006);
    assert.ok(result.error instanceof CloseTimeoutError);
    assert.equal((result.error as CloseTimeoutError).timeout, 3000);
  });

  test('messageTimeout: a message begun and not finished within it fails the connection (1008)', async () => {
    const h = new Harness({ messageTimeout: 4000, closeTimeout: 1000 });
    await h.send(encodeFrame({ opcode: Opcode.Text, payload: Buffer.from('part'), mask: true, fin: false }));
    await h.advance(3990);
    assert.equal(h.errors.length, 0);
    await h.advance(30);
    assert.ok(h.errors[0] instanceof MessageTimeoutError);
    assert.equal(parseClosePayload(h.frames.at(-1)!.payload).code, 1008);
    h.driver.terminate();
  });
});

describe('pongTimeout through the WebSocket', () => {
  test('a peer that does not answer keep-alive pings is failed with 1011 and an error naming the cause', { timeout: 10_000 }, async () => {
    // The connection timers never keep the process alive (a socket would): this does, until the end.
    const alive = setInterval(() => {}, 1000);
    const [a, b] = duplexPair();
    const server = new WebSocket(a, { role: 'server', pingInterval: 20, pongTimeout: 40, idleTimeout: 0, closeTimeout: 200 });
    // autoPong off: the client reads the pings and never answers them.
    const client = new WebSocket(b, { role: 'client', pingInterval: 0, idleTimeout: 0, autoPong: false });
    const errors: Error[] = [];
    server.on('error', (error) => errors.push(error));
    const [code] = (await once(client, 'close')) as [number, string];
    assert.equal(code, 1011);
    assert.ok(errors.some((e) => e instanceof KeepaliveTimeoutError));
    if (server.readyState !== 'closed') await once(server, 'close');
    clearInterval(alive);
  });
});
