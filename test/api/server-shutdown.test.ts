/**
 * The shutdown deadline of WebSocketServer.close(): every client is sent 1001 and given its
 * closeTimeout (plus a margin) to finish the closing handshake; one that has not by then is
 * terminated, so close() cannot hang on a connection that never ends. On the fake clock: the
 * deadline is timer logic, and a real wait of seconds would make the test slow and flaky.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CloseCode } from '../../src/core/close-code.js';
import { Opcode } from '../../src/core/opcode.js';
import { closeClients, SHUTDOWN_MARGIN } from '../../src/api/server-shutdown.js';
import { fakeTimers } from '../helpers/fake-clock.js';
import { until, waitFor } from '../helpers/wait.js';
import { closePair, rawPair, wsPair } from '../helpers/ws-pair.js';

/** Several turns of the event loop: what is due without time moving has happened after them. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await nextTurn();
}

test('a client that never answers the close is terminated at the deadline, not before', async () => {
  const { clock, timers } = fakeTimers();
  // closeTimeout 0 on the connection itself: it would wait for the peer's close frame forever, so
  // only the server's deadline can end it. The deadline's bound is far above any real delay a
  // loaded machine could add, so a deadline on real time (not the service's clock) fails here.
  const wait = 60_000;
  const { ws, peer } = await rawPair('memory', 'server', { closeTimeout: 0, timers });
  let done = false;
  const closing = closeClients([ws], wait, timers).then(() => {
    done = true;
  });

  const frame = await until(peer.nextFrame(), 5000, 'the close frame');
  assert.equal(frame?.opcode, Opcode.Close);
  assert.equal(Buffer.from(frame!.payload).readUInt16BE(0), CloseCode.GoingAway);

  clock.advance(wait);
  await settle();
  assert.equal(done, false, 'closeClients settled before closeTimeout + margin');
  assert.equal(ws.readyState, 'closing');

  // The deadline is on a 1 s wheel (coarse by design, never early): at most a second late.
  clock.advance(SHUTDOWN_MARGIN + 1000);
  await until(closing, 5000, 'closeClients after the deadline');
  await waitFor(() => ws.readyState === 'closed', { what: 'the terminated client closing' });
});

test('a client that answers the close ends the wait at once and leaves no deadline pending', async () => {
  const { timers } = fakeTimers();
  const { client, server } = await wsPair('memory', { server: { timers } });
  await until(closeClients([server], 60_000, timers), 5000, 'closeClients with an answering peer');
  assert.equal(server.readyState, 'closed');
  assert.equal(timers.pending, 0);
  await closePair(client, server);
});

test('closeTimeout 0 sets no deadline: the wait lasts as long as the handshake', async () => {
  const { clock, timers } = fakeTimers();
  const { ws, peer } = await rawPair('memory', 'server', { closeTimeout: 0, timers });
  let done = false;
  const closing = closeClients([ws], 0, timers).then(() => {
    done = true;
  });
  await until(peer.nextFrame(), 5000, 'the close frame');
  clock.advance(24 * 3600 * 1000);
  await settle();
  assert.equal(done, false);
  // The peer answers: the wait ends with the handshake.
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(CloseCode.GoingAway);
  peer.send({ opcode: Opcode.Close, payload });
  await until(closing, 5000, 'closeClients after the peer answered');
  assert.equal(ws.readyState, 'closed');
});
