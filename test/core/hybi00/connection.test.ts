import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Hybi00Connection } from '../../../src/core/hybi00/connection.js';
import { ConnectionNotOpenError, InvalidArgumentError, NotSupportedByVersionError, type ProtocolError } from '../../../src/core/errors.js';
import type { ConnectionHandler } from '../../../src/core/connection.js';

function make(options: { hold?: boolean; maxMessageSize?: number } = {}) {
  const out: number[] = [];
  const events: unknown[] = [];
  const handler: ConnectionHandler = {
    output: (chunks) => chunks.forEach((c) => out.push(...c)),
    message: (data, isText) => events.push(['message', Buffer.from(data).toString('utf8'), isText]),
    fragment: (data, _t, first, fin) => events.push(['fragment', Buffer.from(data).toString('utf8'), first, fin]),
    ping: () => events.push(['ping']),
    pong: () => events.push(['pong']),
    close: (code, reason) => events.push(['close', code, reason]),
    holdCloseReply: () => options.hold === true,
    protocolError: (e: ProtocolError) => events.push(['error', e.code]),
  };
  const conn = new Hybi00Connection({ role: 'server', maxMessageSize: options.maxMessageSize }, handler);
  return { conn, out, events };
}

describe('Hybi00Connection: the RFC 6455 Connection\'s surface over hybi-00 frames', () => {
  it('delivers whole text messages gathered across chunks', () => {
    const { conn, events } = make();
    conn.receive(Uint8Array.from([0, 0x61]));
    assert.equal(conn.receiving, true);
    conn.receive(Uint8Array.from([0x62, 0xff, 0, 0x63, 0xff]));
    assert.deepEqual(events, [['message', 'ab', true], ['message', 'c', true]]);
    assert.equal(conn.receiving, false);
  });

  it('reports pieces in streaming mode', () => {
    const { conn, events } = make();
    conn.setStreaming(true);
    conn.receive(Uint8Array.from([0, 0x61]));
    conn.receive(Uint8Array.from([0x62, 0xff]));
    assert.deepEqual(events, [['fragment', 'a', true, false], ['fragment', 'b', false, true]]);
  });

  it('sends text frames; refuses binary, fragments, ping and pong with NotSupportedByVersionError', () => {
    const { conn, out } = make();
    conn.sendMessage(Uint8Array.from([0x68, 0x69]), true);
    assert.deepEqual(out, [0, 0x68, 0x69, 0xff]);
    const refused = (f: () => void, feature: string) =>
      assert.throws(f, (e: unknown) => e instanceof NotSupportedByVersionError && e.code === 'ERR_NOT_SUPPORTED_BY_VERSION' && e.feature === feature && e.version === 'hybi-00');
    refused(() => conn.sendMessage(Uint8Array.from([1]), false), 'binary');
    refused(() => conn.sendMessage(Uint8Array.from([1, 2, 3]), true, { fragmentSize: 1 }), 'fragments');
    refused(() => conn.sendFrame(Uint8Array.from([1]), true, true, false), 'fragments');
    refused(() => conn.ping(), 'ping');
    refused(() => conn.pong(), 'pong');
    assert.throws(() => conn.sendMessage(Uint8Array.from([0xff]), true), InvalidArgumentError);
    assert.deepEqual(out, [0, 0x68, 0x69, 0xff]);
  });

  it('close(code, reason) sends only 0xFF 0x00; the peer\'s answer closes with 1005', () => {
    const { conn, out, events } = make();
    assert.throws(() => conn.close(999), InvalidArgumentError);
    conn.close(1000, 'bye');
    assert.deepEqual(out, [0xff, 0x00]);
    assert.equal(conn.readyState, 'closing');
    assert.throws(() => conn.sendMessage(Uint8Array.from([0x61]), true), ConnectionNotOpenError);
    conn.receive(Uint8Array.from([0xff, 0x00]));
    assert.equal(conn.readyState, 'closed');
    assert.deepEqual(events, [['close', 1005, '']]);
  });

  it('answers the peer\'s close at once, or holds the answer when asked', () => {
    const a = make();
    a.conn.receive(Uint8Array.from([0xff, 0x00]));
    assert.deepEqual(a.out, [0xff, 0x00]);
    assert.equal(a.conn.readyState, 'closed');
    const b = make({ hold: true });
    b.conn.receive(Uint8Array.from([0xff, 0x00]));
    assert.equal(b.conn.closeReplyPending, true);
    b.conn.sendMessage(Uint8Array.from([0x61]), true);
    b.conn.replyToClose();
    assert.deepEqual(b.out, [0, 0x61, 0xff, 0xff, 0x00]);
    assert.equal(b.conn.readyState, 'closed');
  });

  it('fails bad input once: the closing frame goes out, then protocolError', () => {
    const { conn, out, events } = make({ maxMessageSize: 4 });
    conn.receive(Uint8Array.from([0, 0x61, 0x62, 0x63, 0x64, 0x65]));
    assert.deepEqual(events, [['error', 'ERR_MESSAGE_TOO_LARGE']]);
    assert.deepEqual(out, [0xff, 0x00]);
    assert.equal(conn.closed, true);
    conn.receive(Uint8Array.from([0, 0x61, 0xff]));
    assert.equal(events.length, 1);
  });

  it('keeps input while held and parses it, in order, when released', () => {
    const { conn, events } = make();
    conn.holdInput();
    conn.receive(Uint8Array.from([0, 0x61, 0xff]));
    conn.receive(Uint8Array.from([0, 0x62, 0xff]));
    assert.equal(conn.bufferedInput, 6);
    assert.deepEqual(events, []);
    conn.releaseInput();
    assert.deepEqual(events, [['message', 'a', true], ['message', 'b', true]]);
    assert.equal(conn.bufferedInput, 0);
  });

  // The redesigned core (issue 16) names its close state and result; the driver sees either core
  // through the same members, so hybi-00 presents them too (issue 22, ported onto the split core).
  it('names its close state and result as the RFC 6455 core does: a clean draft close reads 1005', () => {
    const { conn } = make();
    assert.equal(conn.closeState, 'open');
    assert.equal(conn.closeExpected(), false);
    assert.equal(conn.closeResult, null);
    conn.close(1000, 'bye');
    assert.equal(conn.closeState, 'closing-by-us');
    assert.equal(conn.closeExpected(), true);
    assert.equal(conn.closeResult, null);
    conn.receive(Uint8Array.from([0xff, 0x00]));
    assert.equal(conn.closeState, 'closed');
    conn.transportClosed();
    assert.equal(conn.closeExpected(), false);
    assert.deepEqual(conn.closeResult, { code: 1005, reason: '', wasClean: true, error: null });
  });

  it('reports a failure, and a transport that ended first, as closeResult', () => {
    const failed = make({ maxMessageSize: 2 });
    failed.conn.receive(Uint8Array.from([0, 0x61, 0x62, 0x63]));
    assert.equal(failed.conn.closeState, 'failed');
    const result = failed.conn.closeResult;
    assert.equal(result?.code, 1009);
    assert.equal(result?.wasClean, false);
    assert.equal((result?.error as ProtocolError | null)?.code, 'ERR_MESSAGE_TOO_LARGE');

    const cut = make();
    const error = new Error('reset');
    cut.conn.transportClosed(error);
    assert.equal(cut.conn.closeState, 'terminated');
    assert.deepEqual(cut.conn.closeResult, { code: 1006, reason: '', wasClean: false, error });
  });
});
