// The small-message path of a WebSocket as a user sees it (issue 24, small messages): a 'message'
// listener's result under captureRejections, a replaced emit(), and send()'s option names.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { SEND_NAMES, sendOptionNamesKnown } from '../../src/api/call-arguments.js';
import { closePair, transports, wsPair } from '../helpers/ws-pair.js';
import { once, quietFor, waitFor } from '../helpers/wait.js';

for (const transport of transports) {
  describe(`'message' delivery (${transport})`, { timeout: 60_000 }, () => {
    test('one promise returned by the listener for several messages is one failure when it rejects: one error, then 1011', async () => {
      const { client, server } = await wsPair(transport);
      let reject!: (error: Error) => void;
      const shared = new Promise<void>((_resolve, fail) => (reject = fail));
      let delivered = 0;
      server.on('message', () => {
        delivered++;
        return shared;
      });
      const errors: Error[] = [];
      server.on('error', (error) => errors.push(error));
      const clientClosed = once(client, 'close');
      for (let i = 0; i < 3; i++) void client.send(`m${i}`);
      await waitFor(() => delivered === 3, { what: 'three messages' });
      reject(new Error('shared failure'));
      assert.equal((await clientClosed)[0], 1011);
      // Every 'error' from the rejection would have come on the ticks right after it.
      await quietFor(50);
      assert.deepEqual(
        errors.map((error) => error.message),
        ['shared failure'],
      );
      await closePair(client, server);
    });

    test('a listener that returns a new rejected promise each time is a failed listener each time, as with emit()', async () => {
      const { client, server } = await wsPair(transport);
      let delivered = 0;
      server.on('message', () => {
        delivered++;
        return Promise.reject(new Error(`bad ${delivered}`));
      });
      const errors: string[] = [];
      server.on('error', (error) => errors.push(error.message));
      client.cork();
      void client.send('a');
      void client.send('b');
      client.uncork();
      await waitFor(() => errors.length === 2, { what: 'two errors' });
      assert.deepEqual(errors, ['bad 1', 'bad 2']);
      await closePair(client, server);
    });

    test('an emit() replaced on the instance still sees every message; so do several listeners, in order', async () => {
      const { client, server } = await wsPair(transport);
      const seen: unknown[] = [];
      const emit = server.emit;
      server.emit = function (this: typeof server, ...args: Parameters<typeof emit>) {
        if (args[0] === 'message') seen.push(`emit ${String(args[1])}`);
        return emit.apply(this, args);
      } as typeof emit;
      server.on('message', (data) => seen.push(`first ${String(data)}`));
      await client.send('one');
      await waitFor(() => seen.length === 2, { what: 'the first message' });
      server.emit = emit;
      server.on('message', (data) => seen.push(`second ${String(data)}`));
      await client.send('two');
      await waitFor(() => seen.length === 4, { what: 'the second message' });
      assert.deepEqual(seen, ['emit one', 'first one', 'first two', 'second two']);
      await closePair(client, server);
    });
  });
}

describe('send() option names', () => {
  test('every name send() takes passes the per-message check; anything else, own and enumerable, does not', () => {
    for (const name of SEND_NAMES) assert.equal(sendOptionNamesKnown({ [name]: undefined }), true, name);
    assert.equal(sendOptionNamesKnown({}), true);
    assert.equal(sendOptionNamesKnown({ binary: true, mask: true }), false);
    assert.equal(sendOptionNamesKnown({ Binary: true }), false);
    // Inherited names are not options (as checkOptionNames has it).
    assert.equal(sendOptionNamesKnown(Object.create({ colour: 'red' }) as object), true);
  });

  test('send() still refuses unknown names, an array and a non-object as options', async () => {
    const { client, server } = await wsPair('memory');
    await assert.rejects(client.send('x', { binary: false, mask: true } as never), (error: unknown) => error instanceof InvalidArgumentError && /'mask'/.test(error.message));
    await assert.rejects(client.send('x', [] as never), (error: unknown) => error instanceof InvalidArgumentError && /an array/.test(error.message));
    await assert.rejects(client.send('x', 5 as never), InvalidArgumentError);
    await client.send('still open', { binary: false });
    assert.deepEqual(await server.receive(), { type: 'text', data: 'still open' });
    await closePair(client, server);
  });
});
