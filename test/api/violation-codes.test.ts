/**
 * Issue 16, point 2, end to end: a violation sent over a real socket (127.0.0.1) reaches the
 * server's WebSocket as a ProtocolError with the violation's own code, and the peer reads the
 * close code and the reason that name the rule it broke.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { parseClosePayload } from '../../src/core/close.js';
import { ProtocolError } from '../../src/core/errors.js';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { encodeFrame } from '../../src/core/frame.js';
import { RawClient, upgradeRequest } from '../helpers/raw-peer.js';
import { until } from '../helpers/wait.js';

describe('a receive-side violation over a real socket (issue 16)', () => {
  it('an unmasked client frame: ERR_EXPECTED_MASK on the server, 1002 "client frame not masked" to the peer', async () => {
    const server = new WebSocketServer();
    const failed = new Promise<unknown>((resolve) => {
      server.on('connection', (ws: WebSocket) => ws.on('error', resolve));
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const client = await RawClient.open(port);
    try {
      client.write(upgradeRequest());
      const answer = await client.response();
      assert.equal(answer.status, 101);
      client.write(encodeFrame({ opcode: 0x1, payload: new TextEncoder().encode('not masked') }));

      const error = await until(failed, undefined, "the server's 'error' event");
      assert.ok(error instanceof ProtocolError);
      assert.equal(error.code, 'ERR_EXPECTED_MASK');
      assert.equal(error.closeCode, 1002);

      let close: ReturnType<typeof decodeFrame> = null;
      const read = await client.until(() => (close = decodeFrame(client.afterHead())) !== null, 5000);
      assert.ok(read && close !== null, 'a close frame arrived');
      const frame = (close as NonNullable<ReturnType<typeof decodeFrame>>).frame;
      assert.equal(frame.opcode, 0x8);
      assert.deepEqual(parseClosePayload(frame.payload), { code: 1002, reason: 'client frame not masked' });
    } finally {
      client.destroy();
      await server.close();
    }
  });
});
