/**
 * The books of outstanding pings (RFC 6455 section 5.5.3), without a connection: which pong
 * answers which ping, heartbeats, and the end of the connection. Timeouts are covered through the
 * WebSocket's ping tests.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionClosedError } from '../../src/core/errors.js';
import { PingTracker } from '../../src/api/ping-tracker.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('PingTracker (RFC 6455 section 5.5.3)', () => {
  test('a pong answers the ping with its payload and every earlier one, with their round trips', async () => {
    const tracker = new PingTracker();
    const first = tracker.add(bytes('a'), 0);
    const second = tracker.add(bytes('b'), 0);
    const third = tracker.add(bytes('c'), 0);
    const rtt = tracker.pong(bytes('b'));
    assert.equal(typeof rtt, 'number');
    assert.ok((await first) >= 0);
    assert.ok((await second) >= 0);
    let thirdSettled = false;
    void third.then(() => (thirdSettled = true));
    await Promise.resolve();
    assert.equal(thirdSettled, false, 'a later ping still waits');
    assert.ok(tracker.pong(bytes('c')) !== null);
    assert.ok((await third) >= 0);
  });

  test('an unsolicited pong ends no ping and reports no round trip', async () => {
    const tracker = new PingTracker();
    assert.equal(tracker.pong(bytes('heartbeat')), null, 'nothing outstanding');
    const ping = tracker.add(bytes('mine'), 0);
    assert.equal(tracker.pong(bytes('other')), null);
    let settled = false;
    void ping.then(() => (settled = true));
    await Promise.resolve();
    assert.equal(settled, false);
    tracker.pong(bytes('mine'));
    await ping;
  });

  test('at most one keep-alive ping waits, and an empty pong answers it', () => {
    const tracker = new PingTracker();
    tracker.addKeepalive();
    tracker.addKeepalive();
    assert.ok(tracker.pong(new Uint8Array(0)) !== null);
    assert.equal(tracker.pong(new Uint8Array(0)), null, 'only one was listed');
  });

  test('the end of the connection rejects every waiting ping with the error given', async () => {
    const tracker = new PingTracker();
    const a = tracker.add(bytes('a'), 0);
    const b = tracker.add(bytes('b'), 0);
    tracker.closeAll(() => new ConnectionClosedError(1006, '', false));
    await assert.rejects(a, ConnectionClosedError);
    await assert.rejects(b, ConnectionClosedError);
  });
});
