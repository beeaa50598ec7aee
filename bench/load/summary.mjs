// A workload's figures once its rounds are done: every peer's median and spread, and hybi's
// per-round ratios to each peer (load.mjs hands each entry here before the report is written).
import { pairedExcessRatios, pairedRatios, summarize } from '../lib/stats.mjs';

/** Figures of a sample besides `value` that are summarized and compared when present. */
const FIELDS = ['p99', 'heap', 'cpuPerOp', 'faultsPerOp', 'markCompactsPerSecond', 'serverCpuPerOp', 'clientRss', 'clientHeap'];

/**
 * Medians with spreads for every peer, and per-round ratios hybi / peer for every other peer
 * (for the HTTP/2 rows hybi-h2 / peer: `entry.base` names the numerator):
 * `value` and each field above; `oneCore` (peer CPU per connection / hybi's: how many times more
 * connections one core serves with hybi); for memory, `excess`: what hybi holds above node-raw
 * over what the peer holds above it (both per round).
 */
export function summarizeEntry(entry) {
  const list = (id, key) => (entry.samples.get(id) ?? []).map((s) => (s[key] === undefined ? NaN : s[key]));
  entry.summary = {};
  for (const [id, samples] of entry.samples) {
    entry.summary[id] = summarize(list(id, 'value'));
    for (const key of FIELDS) if (samples.some((s) => s[key] !== undefined)) entry.summary[id][key] = summarize(list(id, key));
  }
  entry.ratios = {};
  const base = entry.workload.kind.startsWith('pair-') ? 'hybi-h2' : 'hybi';
  entry.base = base;
  if (!entry.samples.has(base)) return;
  for (const id of entry.samples.keys()) {
    if (id === base) continue;
    const ratios = { value: pairedRatios(list(base, 'value'), list(id, 'value')) };
    for (const key of FIELDS) if (entry.summary[id][key] && entry.summary[base][key]) ratios[key] = pairedRatios(list(base, key), list(id, key));
    if (entry.workload.kind === 'connect') ratios.oneCore = pairedRatios(list(id, 'cpuPerOp'), list('hybi', 'cpuPerOp'));
    if (entry.workload.kind === 'memory' && entry.samples.has('node-raw') && id !== 'node-raw') {
      ratios.excess = pairedExcessRatios(list('hybi', 'value'), list(id, 'value'), list('node-raw', 'value'));
      ratios.heapExcess = pairedExcessRatios(list('hybi', 'heap'), list(id, 'heap'), list('node-raw', 'heap'));
    }
    entry.ratios[id] = ratios;
  }
  if (entry.workload.kind === 'memory' && entry.samples.has('node-raw')) {
    // What each peer holds above the bare socket, per round.
    const floor = list('node-raw', 'value');
    entry.excess = {};
    for (const id of entry.samples.keys()) entry.excess[id] = summarize(list(id, 'value').map((v, i) => v - floor[i]));
  }
}
