/**
 * The shared coarse timer wheel: timers never fire early, fire at most about one resolution
 * late, can be cancelled and re-scheduled (also from inside a callback), and leave no interval
 * running (nor keep the process alive) when nothing is pending.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TimerWheel, WheelTimer, pendingTimers, wheelFor } from '../../src/node/timer-wheel.js';
import { fakeTimers } from '../helpers/fake-clock.js';
import { turn, until } from '../helpers/wait.js';

// The timer logic runs on a fake clock (helpers/fake-clock.ts): time moves only by clock.advance(),
// so "never early" and "at most a resolution late" are checked exactly, whatever the machine's
// load. Only the resource tests below use the real clock, since they are about Node's own timers.

describe('scheduling', { timeout: 20_000 }, () => {
  test('a timer fires once, never early, and within a resolution (plus scheduling noise) of its due time', async () => {
    for (const delay of [15, 120, 400]) {
      const { clock, timers } = fakeTimers();
      clock.advance(3); // not on a tick boundary, as a real schedule() call rarely is
      const start = clock.now();
      let firedAt = -1;
      let fired = 0;
      const timer = new WheelTimer(
        () => {
          fired++;
          firedAt = clock.now();
        },
        { timers },
      );
      timer.schedule(delay);
      assert.ok(timer.pending);
      const resolution = timers.wheelFor(delay).resolution;
      clock.advance(delay - 1);
      assert.equal(fired, 0, 'not early');
      clock.advance(resolution + 201);
      assert.equal(fired, 1);
      assert.ok(!timer.pending);
      const elapsed = firedAt - start;
      assert.ok(elapsed >= delay - 1, `fired after ${elapsed} ms for ${delay}`);
      assert.ok(elapsed <= delay + resolution + 150, `fired after ${elapsed} ms for ${delay} (resolution ${resolution})`);
    }
  });

  test('the wheel for a delay keeps lateness within about 5% of it', () => {
    assert.equal(wheelFor(50).resolution, 10);
    assert.equal(wheelFor(1999).resolution, 10);
    assert.equal(wheelFor(2000).resolution, 100);
    assert.equal(wheelFor(30_000).resolution, 1000);
    for (const delay of [200, 2_500, 20_000, 60_000]) assert.ok(wheelFor(delay).resolution <= delay / 20);
  });

  test('cancel stops a timer; re-scheduling moves it; both work from inside another callback', async () => {
    const { clock, timers } = fakeTimers();
    const fired: string[] = [];
    const a = new WheelTimer(() => fired.push('a'), { timers });
    const b = new WheelTimer(() => fired.push('b'), { timers });
    const c = new WheelTimer(() => {
      fired.push('c');
      // Same tick as b: cancelling it must stop it even though it is already due.
      b.cancel();
      a.schedule(30);
    }, { timers });
    a.schedule(20);
    a.cancel();
    // One coarse tick, so one batch; a slot lists its newest timer first, so c runs before b.
    const coarse = new TimerWheel(100, 256, clock);
    coarse.add(b, 30);
    coarse.add(c, 30);
    clock.advance(300);
    assert.deepEqual(fired.sort(), ['a', 'c']);
    a.cancel();
    b.cancel();
  });

  test('a callback may re-schedule its own timer (a periodic check)', async () => {
    const { clock, timers } = fakeTimers();
    let runs = 0;
    const timer = new WheelTimer(
      () => {
        if (++runs < 3) timer.schedule(10);
      },
      { timers },
    );
    timer.schedule(10);
    clock.advance(300);
    assert.equal(runs, 3);
    assert.ok(!timer.pending);
  });

  test('many timers in one slot all fire, and the wheel is empty afterwards', async () => {
    const { clock } = fakeTimers();
    const wheel = new TimerWheel(5, 8, clock);
    let fired = 0;
    const timers = Array.from({ length: 1000 }, () => new WheelTimer(() => fired++));
    for (const [i, t] of timers.entries()) wheel.add(t, 5 + (i % 3) * 40);
    assert.equal(wheel.size, 1000);
    clock.advance(400);
    assert.equal(fired, 1000);
    assert.equal(wheel.size, 0);
  });

  test('a delay longer than one turn of the wheel still waits the whole delay', async () => {
    const { clock } = fakeTimers();
    const wheel = new TimerWheel(5, 4, clock); // one turn is 20 ms
    let firedAt = -1;
    const start = clock.now();
    wheel.add(new WheelTimer(() => (firedAt = clock.now())), 100);
    clock.advance(250);
    assert.ok(firedAt - start >= 99, `fired after ${firedAt - start} ms`);
  });

  test('timers sharing one callback each call it with their own target as this', async () => {
    const seen: string[] = [];
    const shared = function (this: { name: string }): void {
      seen.push(this.name);
    };
    const { clock, timers } = fakeTimers();
    const a = new WheelTimer(shared, { target: { name: 'a' }, timers });
    const b = new WheelTimer(shared, { target: { name: 'b' }, timers });
    a.schedule(15);
    b.schedule(30);
    clock.advance(120);
    assert.deepEqual(seen, ['a', 'b']);
  });

  test('invalid wheel shapes are refused', () => {
    assert.throws(() => new TimerWheel(0), RangeError);
    assert.throws(() => new TimerWheel(10, 3), RangeError);
  });
});

describe('resources', { timeout: 20_000 }, () => {
  test('no interval runs while nothing is pending, and pending timers do not keep the process alive', async () => {
    const before = pendingTimers();
    const timer = new WheelTimer(() => {});
    timer.schedule(60_000);
    assert.equal(pendingTimers(), before + 1);
    // An unref'd interval is not an active resource that keeps the loop alive.
    const refd = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    timer.cancel();
    assert.equal(pendingTimers(), before);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(refd, after, 'an unref timer added no ref\'d Timeout');
  });

  test('a ref timer keeps the process alive until it fires', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    let fire!: () => void;
    const fired = new Promise<void>((resolve) => (fire = resolve));
    const timer = new WheelTimer(() => fire(), { ref: true });
    timer.schedule(50);
    const during = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(during, before + 1);
    // Real time (this is about Node's own Timeout): waits for the firing itself, not a guess of it.
    await until(fired, 5000, 'the ref timer firing');
    await turn();
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(after, before);
  });
});
