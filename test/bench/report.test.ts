// The benchmark report's arithmetic (bench/lib/stats.mjs, bench/lib/report.mjs): ratios are
// medians of per-round ratios, not ratios of medians, and the verdicts against issue 24's targets
// follow the rules the report states. Plain unit tests on fixed numbers: nothing is timed.
import { test } from 'node:test';
import assert from 'node:assert/strict';

interface Summary { median: number; min: number; max: number; n: number }
type Stats = {
  summarize(values: number[]): Summary;
  pairedRatios(a: number[], b: number[]): Summary;
  pairedExcessRatios(a: number[], b: number[], floor: number[]): Summary;
};
type Report = { evaluateTarget(entry: unknown, target: unknown): { target: string; measured: string; met: string } };

// build/test/bench/ -> the repository's bench/lib/ (plain .mjs files, not compiled).
const lib = (name: string): Promise<unknown> => import(new URL(`../../../bench/lib/${name}`, import.meta.url).href);

test('pairedRatios takes the median of the per-round ratios, with their min and max', async () => {
  const { pairedRatios } = (await lib('stats.mjs')) as Stats;
  // Round by round: 100/50 = 2, 30/60 = 0.5, 90/30 = 3. The ratio of the medians would be 90/50 = 1.8.
  assert.deepEqual(pairedRatios([100, 30, 90], [50, 60, 30]), { median: 2, min: 0.5, max: 3, n: 3 });
  // An even count: the mean of the middle two (1 and 2).
  assert.deepEqual(pairedRatios([1, 2, 4, 8], [1, 1, 1, 1]), { median: 3, min: 1, max: 8, n: 4 });
});

test('pairedRatios leaves out rounds where either peer failed or the divisor is zero', async () => {
  const { pairedRatios } = (await lib('stats.mjs')) as Stats;
  assert.deepEqual(pairedRatios([10, NaN, 30, 40], [5, 5, 0, 10]), { median: 3, min: 2, max: 4, n: 2 });
  assert.equal(pairedRatios([NaN], [1]).n, 0);
});

test('pairedExcessRatios compares what two peers hold above the floor of the same round', async () => {
  const { pairedExcessRatios } = (await lib('stats.mjs')) as Stats;
  // hybi 8 and ws 7.5 over a floor of 6 -> 2 / 1.5; then 7 and 8 over 6 -> 1 / 2.
  const r = pairedExcessRatios([8, 7], [7.5, 8], [6, 6]);
  assert.equal(r.n, 2);
  assert.equal(r.min, 0.5);
  assert.ok(Math.abs(r.max - 4 / 3) < 1e-12);
  // A round where the peer is not above the floor says nothing about the ratio.
  assert.equal(pairedExcessRatios([8], [5], [6]).n, 0);
});

const ratio = (median: number, min: number, max: number): Summary => ({ median, min, max, n: 5 });
const entry = (ratios: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  workload: { title: 't', unit: 'MiB/s', better: 'higher' },
  ratios,
  ...extra,
});

test('a rate target is met when the median of the ratios reaches it', async () => {
  const { evaluateTarget } = (await lib('report.mjs')) as Report;
  const t = { peer: 'node-raw', metric: 'value', min: 0.7 };
  assert.equal(evaluateTarget(entry({ 'node-raw': { value: ratio(0.72, 0.5, 0.9) } }), t).met, 'yes');
  assert.equal(evaluateTarget(entry({ 'node-raw': { value: ratio(0.69, 0.5, 0.9) } }), t).met, 'no');
  assert.equal(evaluateTarget(entry({}), t).met, 'not measured');
});

test('with cpu, overlapping rates are judged by CPU per message, clear ones need both', async () => {
  const { evaluateTarget } = (await lib('report.mjs')) as Report;
  const t = { peer: 'ws+bufferutil', metric: 'value', min: 1, cpu: true };
  // Rates straddle 1: CPU decides either way.
  assert.equal(evaluateTarget(entry({ 'ws+bufferutil': { value: ratio(0.9, 0.8, 1.2), cpuPerOp: ratio(0.95, 0.9, 1) } }), t).met, 'yes');
  assert.equal(evaluateTarget(entry({ 'ws+bufferutil': { value: ratio(1.1, 0.8, 1.2), cpuPerOp: ratio(1.05, 1, 1.1) } }), t).met, 'no');
  // All rounds above: met only if CPU per message is not above ws's too.
  assert.equal(evaluateTarget(entry({ 'ws+bufferutil': { value: ratio(1.2, 1.1, 1.3), cpuPerOp: ratio(0.9, 0.8, 1) } }), t).met, 'yes');
  assert.equal(evaluateTarget(entry({ 'ws+bufferutil': { value: ratio(1.2, 1.1, 1.3), cpuPerOp: ratio(1.1, 1, 1.2) } }), t).met, 'no');
  // All rounds below: not met, whatever the CPU.
  assert.equal(evaluateTarget(entry({ 'ws+bufferutil': { value: ratio(0.8, 0.7, 0.9), cpuPerOp: ratio(0.5, 0.4, 0.6) } }), t).met, 'no');
});

test('the idle-memory target needs the RSS excess ratio and the heap snapshots to agree', async () => {
  const { evaluateTarget } = (await lib('report.mjs')) as Report;
  const t = { peer: 'ws+bufferutil', metric: 'excess', max: 0.5 };
  const rss = { 'ws+bufferutil': { excess: ratio(0.4, 0.3, 0.6) } };
  // Heap: hybi 2000 B, ws 3000, bare socket 1400 -> (600 / 1600) = 0.375.
  assert.equal(evaluateTarget(entry(rss, { heapSnapshots: { bytes: { hybi: 2000, ws: 3000, net: 1400 } } }), t).met, 'yes');
  // Heap: (2600 - 1400) / 1600 = 0.75: the snapshots do not confirm it.
  assert.equal(evaluateTarget(entry(rss, { heapSnapshots: { bytes: { hybi: 2600, ws: 3000, net: 1400 } } }), t).met, 'no');
  assert.equal(evaluateTarget(entry({ 'ws+bufferutil': { excess: ratio(0.6, 0.5, 0.7) } }), t).met, 'no');
});

type Render = { renderMarkdown(run: unknown): string };
const summary = (median: number): Summary => ({ median, min: median / 2, max: median * 2, n: 5 });

/** A report of one large and one small echo row, each with CPU and page faults per message. */
function runOf(faults: { hybi: number; ws: number }) {
  const row = (title: string, size: number) => ({
    workload: { title, unit: 'MiB/s', better: 'higher', kind: 'echo', size },
    samples: new Map([['hybi', []], ['ws+bufferutil', []]]),
    summary: {
      hybi: { ...summary(800), cpuPerOp: summary(50), faultsPerOp: summary(faults.hybi) },
      'ws+bufferutil': { ...summary(900), cpuPerOp: summary(45), faultsPerOp: summary(faults.ws) },
    },
    ratios: { 'ws+bufferutil': { value: summary(0.89), cpuPerOp: summary(1.11), faultsPerOp: summary(faults.hybi / faults.ws) } },
    base: 'hybi',
  });
  return {
    machine: { date: '2026-12-06T00:00:00Z', node: 'v20', cpu: 'cpu', cores: 2, memoryGiB: 24, platform: 'Linux', loadBefore: [0, 0, 0], loadAfter: [0, 0, 0], loadMax: 0, seconds: 1 },
    options: { quick: false, rounds: 5, time: 1000, warmup: 300 },
    results: [row('echo 64 KiB', 64 * 1024), row('echo 32 B', 32)],
  };
}

test('the report gives page faults per message for the large rows only, with no ratio', async () => {
  const { renderMarkdown } = (await lib('report.mjs')) as Render;
  const md = renderMarkdown(runOf({ hybi: 4.25, ws: 0.5 }));
  const lines = md.split('\n');
  const at = lines.findIndex((line) => line.startsWith('Page faults per message'));
  assert.ok(at > 0, 'a page-fault table');
  assert.deepEqual(lines.slice(at + 2, at + 6), ['| workload | hybi | ws + bufferutil |', '| --- | --- | --- |', '| echo 64 KiB | 4.25 (2.13-8.50) | 0.50 (0.25-1.00) |', '']);
  // The CPU table above it still has its ratio column; the small row has no fault line.
  assert.ok(lines.includes('| echo 64 KiB | 50.0 (25.0-100) | 45.0 (22.5-90.0) | 1.11 (0.56-2.22) |'));
  assert.ok(!lines.slice(at).some((line) => line.startsWith('| echo 32 B')));
});

test('pageFaults counts the faults of touching fresh memory', async () => {
  const { pageFaults } = (await lib('page-faults.mjs')) as { pageFaults(): number };
  const before = pageFaults();
  assert.ok(Number.isFinite(before) && before > 0);
  // 40 MiB: above the highest mmap threshold glibc sets by itself (32 MiB), so fresh pages from
  // the kernel that fault when first written, whatever the process freed before.
  const fresh = Buffer.allocUnsafeSlow(40 * 1024 * 1024).fill(1);
  assert.ok(pageFaults() > before, 'writing 40 MiB of fresh memory faulted');
  assert.equal(fresh[fresh.length - 1], 1);
});
