import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionHandler } from '../../src/core/connection.js';
import { encodeClosePayload } from '../../src/core/close.js';
import { encodeFrame } from '../../src/core/frame.js';
import { type ConnectionFailure } from '../../src/core/errors.js';
import { MessageTimeoutError } from '../../src/node/errors.js';

// The one close state of the core (issue 16, point 1): who closed, how far the handshake got, and
// the close result, as the driver and the api read them.

const KEY = new Uint8Array([1, 2, 3, 4]);

/** A frame as a client sends it to our server (masked). */
function fromClient(opcode: number, payload: Uint8Array = new Uint8Array(0), fin = true): Uint8Array {
  return encodeFrame({ opcode, payload, fin, mask: KEY });
}

function server(hold = false): { conn: Connection; closes: number[]; errors: ConnectionFailure[]; frames: number } {
  const s = { conn: null as unknown as Connection, closes: [] as number[], errors: [] as ConnectionFailure[], frames: 0 };
  const handler: ConnectionHandler = {
    output: () => void s.frames++,
    message: () => {},
    ping: () => {},
    pong: () => {},
    close: (code) => void s.closes.push(code),
    holdCloseReply: () => hold,
    protocolError: (error) => void s.errors.push(error),
  };
  s.conn = new Connection({ role: 'server' }, handler);
  return s;
}

describe('Connection close state (RFC 6455 section 7)', () => {
  it('open: nothing expected, no result yet', () => {
    const { conn } = server();
    assert.equal(conn.closeState, 'open');
    assert.equal(conn.closeExpected(), false);
    assert.equal(conn.closeResult, null);
    assert.equal(conn.readyState, 'open');
  });

  it('we close first, the peer answers: closing-by-us, then closed with the peer\'s code, clean', () => {
    const { conn } = server();
    conn.close(1000, 'bye');
    assert.equal(conn.closeState, 'closing-by-us');
    assert.equal(conn.closeExpected(), true);
    assert.equal(conn.closeResult, null, 'no result while the peer\'s close is awaited');
    assert.equal(conn.canSendData, false);
    conn.receive(fromClient(8, encodeClosePayload(1001, 'later')));
    assert.equal(conn.closeState, 'closed');
    assert.equal(conn.readyState, 'closed');
    assert.deepEqual(conn.closeResult, { code: 1001, reason: 'later', wasClean: true, error: null });
    conn.transportClosed();
    assert.equal(conn.closeState, 'closed', 'the transport ending after a clean handshake changes nothing');
    assert.equal(conn.closeExpected(), false, 'nothing left to expect once the transport ended');
    assert.deepEqual(conn.closeResult, { code: 1001, reason: 'later', wasClean: true, error: null });
  });

  it('the peer closes and we answer at once: closed, clean, with its code (1005 when it had none)', () => {
    const s = server();
    s.conn.receive(fromClient(8));
    assert.equal(s.conn.closeState, 'closed');
    assert.equal(s.frames, 1, 'our answer went out');
    assert.deepEqual(s.conn.closeResult, { code: 1005, reason: '', wasClean: true, error: null });
  });

  it('the peer closes and our answer is held: closing-by-peer, data may still go; the answer completes it', () => {
    const s = server(true);
    s.conn.receive(fromClient(8, encodeClosePayload(1000)));
    assert.equal(s.conn.closeState, 'closing-by-peer');
    assert.equal(s.conn.closeReplyPending, true);
    assert.equal(s.conn.canSendData, true);
    assert.equal(s.conn.closeExpected(), true);
    s.conn.sendMessage(new Uint8Array([1]), false);
    s.conn.replyToClose();
    assert.equal(s.conn.closeState, 'closed');
    assert.deepEqual(s.conn.closeResult, { code: 1000, reason: '', wasClean: true, error: null });
  });

  it('a held answer that never goes: terminated, with the peer\'s code but not clean', () => {
    const s = server(true);
    s.conn.receive(fromClient(8, encodeClosePayload(1000)));
    s.conn.transportClosed();
    assert.equal(s.conn.closeState, 'terminated');
    assert.equal(s.conn.closeExpected(), false);
    assert.deepEqual(s.conn.closeResult, { code: 1000, reason: '', wasClean: false, error: null });
  });

  it('a protocol error: failed, closed for output, the failure is the result; the transport ending makes it terminated', () => {
    const s = server();
    s.conn.receive(fromClient(0));
    assert.equal(s.conn.closeState, 'failed');
    assert.equal(s.conn.closed, true);
    assert.equal(s.conn.closeExpected(), true);
    assert.equal(s.conn.readyState, 'closing');
    const failure = s.errors[0]!;
    assert.deepEqual(s.conn.closeResult, { code: 1002, reason: failure.message, wasClean: false, error: failure });
    s.conn.transportClosed();
    assert.equal(s.conn.closeState, 'terminated');
    assert.equal(s.conn.readyState, 'closed');
    assert.equal(s.conn.closeResult!.error, failure, 'the failure is still why it ended');
  });

  it('a failure the driver found (failConnection) after our close: failed, with its code', () => {
    const s = server();
    s.conn.close();
    const error = new MessageTimeoutError(100);
    s.conn.failConnection(error);
    assert.equal(s.conn.closeState, 'failed');
    assert.equal(s.conn.closeResult!.code, 1008);
  });

  it('the transport ends with no close frame: terminated, 1006, with the transport\'s error', () => {
    const { conn } = server();
    const reset = new Error('ECONNRESET');
    conn.transportClosed(reset);
    assert.equal(conn.closeState, 'terminated');
    assert.deepEqual(conn.closeResult, { code: 1006, reason: '', wasClean: false, error: reset });
  });
});
