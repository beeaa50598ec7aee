// The public surface as a user imports it: the package's own `exports` map, resolved by Node
// from the built dist/ (self-reference by name), must carry every name DESIGN.md promises.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier);

test("'hybi' exports the user-facing API", async () => {
  const hybi = await load('hybi');
  for (const name of ['connect', 'WebSocketServer', 'WebSocket', 'BrowserWebSocket', 'WebSocketError', 'HandshakeError',
    'InvalidURLError', 'ConnectError', 'ConnectionClosedError', 'ProtocolError', 'MessageTooLargeError',
    'PongMismatchError', 'CloseTimeoutError']) {
    assert.equal(typeof hybi[name], 'function', `hybi.${name}`);
  }
});

test("'hybi/core' exports the low-level layer", async () => {
  const core = await load('hybi/core');
  for (const name of ['isControlOpcode', 'encodeFrame', 'decodeFrame', 'FrameParser', 'generateMaskKey', 'applyMask',
    'encodeClosePayload', 'parseClosePayload', 'Connection']) {
    assert.equal(typeof core[name], 'function', `core.${name}`);
  }
  assert.equal((core.Opcode as Record<string, number>).Text, 1);
  const frame = (core.encodeFrame as (o: object) => Uint8Array)({ opcode: 1, payload: new TextEncoder().encode('hi') });
  assert.deepEqual([...frame], [0x81, 0x02, 0x68, 0x69]);
});

test("'hybi/browser' names the browser-compatible class WebSocket", async () => {
  const [browser, hybi] = await Promise.all([load('hybi/browser'), load('hybi')]);
  assert.equal(browser.WebSocket, hybi.BrowserWebSocket);
  assert.equal((browser.WebSocket as { CLOSED: number }).CLOSED, 3);
});
