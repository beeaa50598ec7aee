import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ZLIB_CONCURRENCY, ZlibLimiter, zlibLimiter } from '../../src/node/zlib-limiter.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

/** A task whose completion the test controls. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ZlibLimiter: bound on concurrent work', () => {
  it('runs at most `concurrency` tasks at once and queues the rest', async () => {
    const limiter = new ZlibLimiter(3);
    const gates = Array.from({ length: 10 }, () => deferred());
    let running = 0;
    let peak = 0;
    const results = gates.map((gate, i) =>
      limiter.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await gate.promise;
        running--;
        return i;
      }),
    );
    await tick();
    assert.equal(limiter.active, 3);
    assert.equal(limiter.pending, 7);
    for (const gate of gates) {
      gate.resolve();
      await tick();
    }
    assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(peak, 3);
    assert.equal(limiter.active, 0);
    assert.equal(limiter.pending, 0);
  });

  it('starts queued tasks in the order they were submitted', async () => {
    const limiter = new ZlibLimiter(2);
    const started: number[] = [];
    const gates = Array.from({ length: 8 }, () => deferred());
    const all = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        await gate.promise;
      }),
    );
    // Finish tasks out of order: the queue must still start 2, 3, 4, ... in submission order.
    for (const i of [1, 0, 3, 2, 5, 4, 7, 6]) {
      gates[i]!.resolve();
      await tick();
    }
    await Promise.all(all);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('releases the slot when a task rejects or throws synchronously', async () => {
    const limiter = new ZlibLimiter(1);
    await assert.rejects(limiter.run(() => Promise.reject(new Error('async'))), /async/);
    await assert.rejects(
      limiter.run(() => {
        throw new Error('sync');
      }),
      /sync/,
    );
    assert.equal(limiter.active, 0);
    assert.equal(await limiter.run(async () => 'still usable'), 'still usable');
  });

  it('raising concurrency starts queued tasks at once', async () => {
    const limiter = new ZlibLimiter(1);
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    let secondStarted = false;
    const second = limiter.run(async () => {
      secondStarted = true;
    });
    await tick();
    assert.equal(secondStarted, false);
    limiter.concurrency = 2;
    await tick();
    assert.equal(secondStarted, true);
    gate.resolve();
    await Promise.all([first, second]);
  });

  it('drains a long queue completely and in order', async () => {
    const limiter = new ZlibLimiter(4);
    const order: number[] = [];
    const n = 20_000;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        limiter.run(async () => {
          order.push(i);
          await Promise.resolve();
        }),
      ),
    );
    assert.equal(order.length, n);
    assert.ok(order.every((v, i) => v === i));
    assert.equal(limiter.pending, 0);
  });

  it('rejects a concurrency that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
      assert.throws(() => new ZlibLimiter(bad), InvalidArgumentError);
      assert.throws(() => {
        new ZlibLimiter().concurrency = bad;
      }, InvalidArgumentError);
    }
  });

  it('the process-wide limiter defaults to 10', () => {
    assert.equal(DEFAULT_ZLIB_CONCURRENCY, 10);
    assert.equal(zlibLimiter.concurrency, DEFAULT_ZLIB_CONCURRENCY);
  });
});
