/**
 * The renewal of a node's subscriber counts (src/redis/count-renewal.ts), on a fake clock: a live
 * node rewrites its counts often enough that they never expire, and stops when closed. No Redis
 * needed: what is timed is when the broker writes, not what Redis does with it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountRenewal, renewalPeriod } from '../../src/redis/count-renewal.js';
import { fakeTimers } from '../helpers/fake-clock.js';

/** A renewal on a fake clock that records the clock's time at each call. */
function recorded(countTtl: number) {
  const { clock, timers } = fakeTimers();
  const at: number[] = [];
  const renewal = new CountRenewal(countTtl, () => at.push(clock.now()), timers);
  return { clock, timers, at, renewal, start: clock.now() };
}

describe('the renewal of subscriber counts', () => {
  it('renews every third of countTtl, never early and never so late that a count expires', () => {
    for (const countTtl of [30_000, 1500, 90]) {
      const { clock, at, renewal, start } = recorded(countTtl);
      const period = renewalPeriod(countTtl);
      assert.equal(period, Math.floor(countTtl / 3));
      renewal.start();
      clock.advance(period - 1);
      assert.equal(at.length, 0, `no renewal before a third of ${countTtl} ms`);
      clock.advance(countTtl * 20);
      // Every gap (from start, then between renewals) is at least a period and leaves the
      // counts, written with an expiry of countTtl, well inside it.
      const gaps = at.map((t, i) => t - (i === 0 ? start : at[i - 1]!));
      assert.ok(at.length >= 50, `${at.length} renewals in 20 countTtl`);
      for (const gap of gaps) {
        assert.ok(gap >= period, `a renewal ${gap} ms after the last, before its period of ${period} ms`);
        assert.ok(gap < countTtl / 2, `a renewal ${gap} ms after the last: the counts (countTtl ${countTtl}) came close to expiring`);
      }
      renewal.stop();
    }
  });

  it('stops when stopped: no renewal and no pending timer after stop()', () => {
    const { clock, timers, at, renewal } = recorded(3000);
    renewal.start();
    clock.advance(2500);
    const before = at.length;
    assert.ok(before >= 2);
    renewal.stop();
    renewal.stop();
    assert.equal(timers.pending, 0);
    clock.advance(30_000);
    assert.equal(at.length, before);
  });

  it('renews a tiny countTtl every millisecond rather than in a tight loop', () => {
    assert.equal(renewalPeriod(1), 1);
    assert.equal(renewalPeriod(2), 1);
    const { clock, at, renewal } = recorded(2);
    renewal.start();
    clock.advance(100);
    // The finest wheel ticks every 10 ms: at most one renewal per tick, never a loop.
    assert.ok(at.length >= 5 && at.length <= 10, `${at.length} renewals in 100 ms`);
    renewal.stop();
  });
});
