// The load suite's report: a markdown file (bench/results/latest.md) and a hand-written SVG
// chart (bench/results/latest.svg) with no dependencies. Every ratio in it is the median of the
// per-round ratios (hybi / peer, the two measured seconds apart in the same round) with their
// min-max spread, as computed by load.mjs (lib/stats.mjs pairedRatios); the verdicts against
// issue 24's targets are computed here (evaluateTarget).

/** Column order of the peers; others (ws without bufferutil, --compare builds) come after. */
const ORDER = ['hybi', 'hybi-h2', 'ws+bufferutil', 'node-raw', 'bun', 'ws'];
const NAMES = { 'hybi-h2': 'hybi over HTTP/2', 'ws+bufferutil': 'ws + bufferutil', 'node-raw': 'node-raw', bun: 'Bun', ws: 'ws (no addon)' };
const nameOf = (id) => NAMES[id] ?? id;

function compact(v) {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** "median (min-max)" of a summary, or '-'. */
function cell(s) {
  if (s === undefined || s === null || !Number.isFinite(s.median)) return '-';
  if (s.n === 1) return compact(s.median);
  return `${compact(s.median)} (${compact(s.min)}-${compact(s.max)})`;
}

/** A ratio summary as "0.51 (0.48-0.55)". */
function ratioCell(r) {
  if (r === undefined || r === null || !Number.isFinite(r.median)) return '-';
  if (r.n === 1) return r.median.toFixed(2);
  return `${r.median.toFixed(2)} (${r.min.toFixed(2)}-${r.max.toFixed(2)})`;
}

/** Peers of an entry in column order. */
function peersOf(entry) {
  const ids = [...(entry.samples instanceof Map ? entry.samples.keys() : Object.keys(entry.samples))];
  return ids.sort((a, b) => (ORDER.indexOf(a) === -1 ? 99 : ORDER.indexOf(a)) - (ORDER.indexOf(b) === -1 ? 99 : ORDER.indexOf(b)));
}

/** 10^6 / CPU us per operation, for "one core's worth" of connections (min and max swap). */
function oneCoreRate(cpu) {
  if (cpu === undefined || !Number.isFinite(cpu.median)) return undefined;
  return { median: 1e6 / cpu.median, min: 1e6 / cpu.max, max: 1e6 / cpu.min, n: cpu.n };
}

const bound = (t) => (t.min !== undefined ? `>= ${t.min}` : `<= ${t.max}`);
const within = (t, x) => (t.min !== undefined ? x >= t.min : x <= t.max);

/**
 * The verdict on one of issue 24's targets for a workload's entry: { target, measured, met }
 * where met is 'yes', 'no' or 'not measured'. Ratios are hybi / peer medians of per-round ratios.
 * With `cpu`, CPU per message must also be at most the peer's (ratio <= 1), and where the rate
 * ratios of the rounds straddle the bound (the rates overlap) the verdict is the CPU's alone: on
 * a shared machine the large-message rates move by +-30% for both libraries, CPU per message
 * much less.
 */
export function evaluateTarget(entry, t) {
  const peer = nameOf(t.peer);
  const r = entry.ratios?.[t.peer];
  if (t.metric === 'oneCore') {
    const x = r?.oneCore;
    return { target: `one core's worth of connections ${bound(t)}x ${peer}'s`, measured: ratioCell(x), met: x && Number.isFinite(x.median) ? (within(t, x.median) ? 'yes' : 'no') : 'not measured' };
  }
  if (t.metric === 'excess') {
    const x = r?.excess;
    const heap = heapExcessRatio(entry.heapSnapshots);
    const rssMet = x && Number.isFinite(x.median) ? within(t, x.median) : null;
    const heapMet = Number.isFinite(heap) ? within(t, heap) : null;
    const met = rssMet === null ? 'not measured' : rssMet && heapMet !== false ? 'yes' : 'no';
    return {
      target: `RSS above node-raw ${bound(t)}x ${peer}'s above node-raw, confirmed by heap snapshots`,
      measured: `RSS ${ratioCell(x)}; heap snapshots ${Number.isFinite(heap) ? heap.toFixed(2) : '-'}`,
      met,
    };
  }
  const x = r?.value;
  const lower = entry.workload.better === 'lower';
  const what = lower ? `${entry.workload.unit === 'us' ? 'p50' : 'figure'} ${bound(t)}x ${peer}'s` : `rate ${bound(t)}x ${peer}'s`;
  if (!x || !Number.isFinite(x.median)) return { target: what, measured: '-', met: 'not measured' };
  let met = within(t, x.median);
  let measured = ratioCell(x);
  let target = what;
  if (t.cpu) {
    const c = r.cpuPerOp;
    target = `${what}, CPU per message <= ${peer}'s (by CPU where the rates overlap)`;
    measured = `rate ${ratioCell(x)}; CPU ${ratioCell(c)}`;
    const cpuMet = c && Number.isFinite(c.median) ? c.median <= 1 : null;
    const overlap = x.min <= (t.min ?? t.max) && (t.min ?? t.max) <= x.max;
    if (cpuMet === null) met = met && !overlap;
    else met = overlap ? cpuMet : met && cpuMet;
  }
  return { target, measured, met: met ? 'yes' : 'no' };
}

/** (hybi - net) / (ws - net) bytes of heap per connection from heap-per-connection.mjs. */
function heapExcessRatio(h) {
  const b = h?.bytes;
  if (!b || !(b.hybi > 0) || !(b.ws > 0) || !(b.net > 0) || b.ws <= b.net) return NaN;
  return (b.hybi - b.net) / (b.ws - b.net);
}

function machineLines(run) {
  const m = run.machine;
  const o = run.options;
  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  return [
    `${m.date.slice(0, 10)}, Node ${m.node}${m.bun ? `, Bun ${m.bun}` : ''}, ${m.cpu} x ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, ${m.platform}.`,
    `Load average (1, 5, 15 min) ${load(m.loadBefore)} before, ${load(m.loadAfter)} after, highest 1-min ${m.loadMax.toFixed(2)}` +
      ' (the machine is shared: other work runs at the same time).',
    `${o.quick ? '**A --quick smoke run: too few rounds for conclusions.** ' : ''}Each figure is the median of ${o.rounds} rounds (at least 5 for latency and memory) of ${o.time} ms` +
      ` (after ${o.warmup} ms of warm-up in each), every peer measured once per round in rotated order, with the min-max range in parentheses.` +
      ` Each ratio is the median of the per-round ratios (hybi / peer within one round), with their min-max range. The suite took ${m.seconds.toFixed(0)} s.`,
  ];
}

/** One table: a row per entry (and extra rows per kind), a column per peer, then ratio columns. */
// `fields`: instead of the workload's own figure, one row per entry and field, e.g.
// [{ field: 'cpuPerOp', suffix: '' }] for a table of CPU per operation.
function table(lines, entries, { fields = null, unit = true } = {}) {
  const label = (e) => e.workload.title;
  const peers = [];
  for (const e of entries) for (const id of peersOf(e)) if (!peers.includes(id)) peers.push(id);
  const base = entries[0]?.base ?? 'hybi';
  // The numerator of the ratios first.
  if (peers.includes(base)) peers.unshift(...peers.splice(peers.indexOf(base), 1));
  const others = peers.filter((id) => id !== base);
  lines.push(
    `| workload |${unit ? ' unit |' : ''} ${peers.map(nameOf).join(' | ')} | ${others.map((id) => `${nameOf(base)} / ${nameOf(id)}`).join(' | ')} |`,
    `| --- |${unit ? ' --- |' : ''}${' --- |'.repeat(peers.length + others.length)}`,
  );
  /** A row: `pick(id)` gives a peer's summary, `pickRatio(id)` the ratio against that peer. */
  const row = (title, u, pick, pickRatio) => {
    lines.push(`| ${title} |${unit ? ` ${u} |` : ''} ${peers.map((id) => cell(pick(id))).join(' | ')} | ${others.map((id) => ratioCell(pickRatio(id))).join(' | ')} |`);
  };
  for (const e of entries) {
    const w = e.workload;
    const s = (id) => e.summary[id];
    if (fields !== null) {
      for (const { field, suffix } of fields) {
        if (peers.some((id) => e.summary[id]?.[field])) row(`${label(e)}${suffix}`, 'us', (id) => s(id)?.[field], (id) => e.ratios[id]?.[field]);
      }
      continue;
    }
    row(w.unit === 'us' ? `${label(e)}: p50` : label(e), w.unit, s, (id) => e.ratios[id]?.value);
    if (w.unit === 'us') row(`${label(e)}: p99`, 'us', (id) => s(id)?.p99, (id) => e.ratios[id]?.p99);
    if (w.kind === 'connect') {
      // Ratio: hybi's rate per core over the peer's = peer CPU per connection / hybi's.
      row(`${label(e)}: one core's worth (10^6 / server CPU us per connection)`, 'conn/s', (id) => oneCoreRate(s(id)?.cpuPerOp), (id) => e.ratios[id]?.oneCore);
    }
    if (w.kind === 'memory') {
      row(`${label(e)}: JS heap in use`, 'KiB/conn', (id) => s(id)?.heap, (id) => e.ratios[id]?.heap);
      if (e.excess) row(`${label(e)}: RSS above node-raw (ratio: hybi's excess / peer's)`, 'KiB/conn', (id) => e.excess[id], (id) => e.ratios[id]?.excess);
    }
  }
  lines.push('');
}

/** The whole markdown report. */
export function renderMarkdown(run) {
  const lines = ['# hybi load benchmarks', '', ...machineLines(run), ''];
  if (run.notes?.length > 0) lines.push(...run.notes.map((n) => `- ${n}`), '');
  const server = run.results.filter((e) => !e.workload.kind.startsWith('client-') && !e.workload.kind.startsWith('pair-'));
  const client = run.results.filter((e) => e.workload.kind.startsWith('client-'));
  const pairs = run.results.filter((e) => e.workload.kind.startsWith('pair-'));

  const judged = run.results.filter((e) => e.workload.targets?.length > 0);
  if (judged.length > 0) {
    lines.push(
      '## Targets (issue 24)',
      '',
      'Ratios hybi / peer, medians of the per-round ratios (min-max). CPU: hybi\'s CPU time per message over the peer\'s (below 1: hybi spends less).',
      '',
      '| workload | target | measured | met |',
      '| --- | --- | --- | --- |',
    );
    for (const e of judged) {
      for (const t of e.workload.targets) {
        const v = evaluateTarget(e, t);
        lines.push(`| ${e.workload.title} | ${v.target} | ${v.measured} | ${v.met} |`);
      }
    }
    lines.push('');
  }

  if (server.length > 0) {
    lines.push(
      '## Server side',
      '',
      'Servers in separate processes on 127.0.0.1, all driven by the same raw-socket load generator (prebuilt masked',
      'frames, pipelined). node-raw: node:net, a 101, frame headers parsed, a canned reply of the same size per frame, all',
      'replies of one read in one write: the least a Node server can do. For latency and memory lower is better.',
      '',
    );
    table(lines, server);
    cpuSection(lines, server, 'Server CPU time per operation (message, delivery or connection), in microseconds: the server\'s CPU share during a run divided by its rate; it moves much less with the machine\'s load than the rates do. Ratio: hybi / peer (below 1: hybi spends less).');
    const memory = server.find((e) => e.workload.kind === 'memory');
    if (memory) memoryNotes(lines, run, memory);
    const alt = server.filter((e) => e.ceilingSummary);
    if (alt.length > 0) {
      lines.push('The generator\'s own ceiling (the raw server echoing bytes verbatim, nothing parsed): if a peer comes near it, the generator is the limit.', '');
      for (const e of alt) {
        const a = e.ceiling.alternative;
        lines.push(`- ${e.workload.title}: ${compact(e.ceilingSummary.median)} ${e.workload.unit} with ${run.options.genProcs} generator process(es)${a ? `, ${compact(a.samples[0].value)} with ${a.procs}` : ''}.`);
      }
      lines.push('');
    }
  }
  if (client.length > 0) {
    lines.push(
      '## Client side',
      '',
      'Client libraries in a process of their own against node-raw\'s /reply (it answers every frame with a prebuilt',
      'frame of the same size, so the client is what is measured): hybi\'s connect(), ws\'s client with bufferutil, Bun\'s',
      'built-in WebSocket.',
      '',
    );
    table(lines, client);
    cpuSection(lines, client, 'Client CPU time per message (sent and echoed), in microseconds. Ratio: hybi / peer (below 1: hybi spends less).');
  }
  if (pairs.length > 0) {
    lines.push(
      '## HTTP/2 beside HTTP/1.1',
      '',
      'Each client library against its own library\'s server, both in separate processes: hybi over HTTP/2 (RFC 8441,',
      'h2c; every WebSocket of the client is a stream of one session), hybi over HTTP/1.1, ws + bufferutil over',
      'HTTP/1.1. Ratios: hybi over HTTP/2 / peer.',
      '',
    );
    const echo = pairs.filter((e) => e.workload.kind === 'pair-echo');
    if (echo.length > 0) {
      table(lines, echo);
      lines.push('CPU time per message in microseconds, client process and server process:', '');
      table(lines, echo, { fields: [{ field: 'cpuPerOp', suffix: ': client' }, { field: 'serverCpuPerOp', suffix: ': server' }], unit: false });
    }
    const mem = pairs.find((e) => e.workload.kind === 'pair-memory');
    if (mem) {
      lines.push(
        `Memory per idle WebSocket, ${mem.workload.conns.toLocaleString('en-US')} of them: over HTTP/2 all share one session (one TCP connection); over HTTP/1.1 each has its own. RSS and JS heap after a full GC, after minus before, in KiB, on the server and in the client process.`,
        '',
        '| | server RSS | server heap | client RSS | client heap |',
        '| --- | --- | --- | --- | --- |',
      );
      for (const id of peersOf(mem)) {
        const s = mem.summary[id];
        lines.push(`| ${nameOf(id)} | ${cell(s)} | ${cell(s.heap)} | ${cell(s.clientRss)} | ${cell(s.clientHeap)} |`);
      }
      lines.push('');
    }
  }
  if (run.failures?.length > 0) {
    lines.push('## Failed workloads', '', ...run.failures.map((f) => `- ${f}`), '');
  }
  return lines.join('\n');
}

function cpuSection(lines, entries, intro) {
  const rows = entries.filter((e) => Object.values(e.summary).some((s) => s.cpuPerOp));
  if (rows.length === 0) return;
  lines.push(intro, '');
  table(lines, rows, { fields: [{ field: 'cpuPerOp', suffix: '' }], unit: false });
  faultSection(lines, rows.filter((e) => (e.workload.size ?? 0) >= 64 * 1024));
  markCompactSection(lines, rows);
}

/**
 * Page faults per message of the large-message rows: they say which state the C allocator was in
 * (a few per message: it gave freed memory back to the kernel and every fresh page faulted), which
 * moves CPU per message by up to 4x for any library (bench/README.md).
 */
function faultSection(lines, entries) {
  stateTable(lines, entries, 'faultsPerOp',
    'Page faults per message in the measured process (the C allocator\'s state: near 0 it keeps freed memory; above 1 it gives memory back and faults it in again, and CPU per message rises with it):');
}

/**
 * Mark-compacts per second of each server: a server whose old generation sits just above V8's
 * 8 MB threshold can run one every 50 ms where another runs none, which moves its CPU per message
 * by itself (bench/README.md, "The 8 MB band, session 13"; `--app-heap` evens it).
 */
function markCompactSection(lines, entries) {
  stateTable(lines, entries, 'markCompactsPerSecond',
    'Mark-compacts per second in the measured server (V8\'s collector: a server that runs several per second where another runs none pays for them in CPU per message, whatever its own work):');
}

/**
 * A figure of each peer's process state per workload, without ratios (it explains the CPU
 * columns rather than ranking the peers): only the rows and peers that measured `field`.
 */
function stateTable(lines, entries, field, intro) {
  const rows = entries.filter((e) => Object.values(e.summary).some((s) => s[field] !== undefined));
  if (rows.length === 0) return;
  const peers = [];
  for (const e of rows) for (const id of peersOf(e)) if (!peers.includes(id) && e.summary[id]?.[field] !== undefined) peers.push(id);
  lines.push(intro, '', `| workload | ${peers.map(nameOf).join(' | ')} |`, `| --- |${' --- |'.repeat(peers.length)}`);
  for (const e of rows) lines.push(`| ${e.workload.title} | ${peers.map((id) => cell(e.summary[id]?.[field])).join(' | ')} |`);
  lines.push('');
}

function memoryNotes(lines, run, memory) {
  const detail = [];
  for (const [id, list] of memory.samples instanceof Map ? memory.samples : Object.entries(memory.samples)) {
    const last = list.filter((s) => !s.failed).at(-1);
    if (last) detail.push(`${nameOf(id)}: heap ${last.heap.toFixed(2)} + external ${last.external.toFixed(2)} KiB per connection (RSS ${last.rssBefore.toFixed(0)} -> ${last.rssAfter.toFixed(0)} MiB)`);
  }
  lines.push(
    `Memory: server RSS after a full GC, with ${run.options.idleCount.toLocaleString('en-US')} idle connections minus before them, per connection; then the JS heap in use (heapUsed) the same way, and what each holds above node-raw (a bare net.Socket with a 101: the floor of any Node server) in the same round. RSS also holds what the collector keeps after growing its spaces while the connections were opened. Last round: ${detail.join('; ')}.`,
    '',
  );
  const h = memory.heapSnapshots;
  if (h) {
    const b = h.bytes;
    const ratio = heapExcessRatio(h);
    lines.push(
      `Heap snapshots (\`node bench/heap-per-connection.mjs hybi ws net --conns=${h.conns}\`): bytes of heap per idle connection, Node's socket included: hybi ${b.hybi ?? '-'}, ws ${b.ws ?? '-'}, bare node:net socket ${b.net ?? '-'}; hybi's excess over the bare socket / ws's: ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'}${h.error ? ` (${h.error})` : ''}.`,
      '',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// SVG

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const REF = 'ws+bufferutil';

/**
 * A horizontal bar chart of the server and client workloads, each peer relative to ws + bufferutil
 * (= 1), oriented so that longer is better (latency and memory inverted), with the min-max range
 * as a whisker.
 */
export function renderSvg(run) {
  const rows = [];
  const shown = ['hybi', REF, 'node-raw', 'bun'];
  const addRow = (label, w, s) => {
    const ref = s[REF];
    if (!ref || !Number.isFinite(ref.median)) return;
    const norm = (v) => (w.better === 'higher' ? v / ref.median : ref.median / v);
    const bars = [];
    for (const id of shown) {
      const x = s[id];
      if (!x || !Number.isFinite(x.median)) continue;
      const lo = norm(w.better === 'higher' ? x.min : x.max);
      const hi = norm(w.better === 'higher' ? x.max : x.min);
      bars.push({ id, value: norm(x.median), lo, hi });
    }
    rows.push({ label, bars });
  };
  for (const e of run.results) {
    const w = e.workload;
    if (w.kind.startsWith('pair-')) continue;
    addRow(w.kind.endsWith('latency') ? `${w.title} (p50)` : w.title, w, e.summary);
    if (w.kind === 'connect') {
      const s = e.summary;
      addRow("new connections: one core's worth", w, Object.fromEntries(shown.map((id) => [id, oneCoreRate(s[id]?.cpuPerOp)])));
    }
  }
  const colors = { hybi: '#1f6fb2', [REF]: '#7a7a7a', 'node-raw': '#c9c9c9', bun: '#e8a33d' };
  const labelWidth = 360;
  const plotWidth = 520;
  const barHeight = 8;
  const rowGap = 12;
  const top = 92;
  const maxValue = Math.max(2, ...rows.flatMap((r) => r.bars.map((b) => Math.max(b.value, Number.isFinite(b.hi) ? b.hi : 0)))) * 1.08;
  const scale = (v) => (Math.min(Math.max(v, 0), maxValue) / maxValue) * plotWidth;
  let y = top;
  const body = [];
  for (const row of rows) {
    const height = row.bars.length * barHeight;
    body.push(`<text x="${labelWidth - 10}" y="${y + height / 2 + 4}" text-anchor="end" class="label">${esc(row.label)}</text>`);
    row.bars.forEach((b, i) => {
      const by = y + i * barHeight;
      body.push(`<rect x="${labelWidth}" y="${by}" width="${scale(b.value).toFixed(1)}" height="${barHeight - 1}" fill="${colors[b.id]}"><title>${esc(nameOf(b.id))}: ${b.value.toFixed(2)}x</title></rect>`);
      if (Number.isFinite(b.lo) && Number.isFinite(b.hi) && b.hi > b.lo) {
        const cy = by + (barHeight - 1) / 2;
        body.push(`<line x1="${(labelWidth + scale(b.lo)).toFixed(1)}" x2="${(labelWidth + scale(b.hi)).toFixed(1)}" y1="${cy}" y2="${cy}" class="whisker"/>`);
      }
      if (b.id === 'hybi') body.push(`<text x="${(labelWidth + scale(Math.max(b.value, Number.isFinite(b.hi) ? b.hi : 0)) + 4).toFixed(1)}" y="${by + barHeight - 1}" class="value">${b.value.toFixed(2)}x</text>`);
    });
    y += height + rowGap;
  }
  const height = y + 40;
  const width = labelWidth + plotWidth + 70;
  const grid = [];
  const step = maxValue > 8 ? 2 : maxValue > 4 ? 1 : 0.5;
  for (let v = 0; v <= maxValue; v += step) {
    const x = (labelWidth + scale(v)).toFixed(1);
    grid.push(`<line x1="${x}" x2="${x}" y1="${top - 6}" y2="${y - rowGap + 4}" class="${v === 1 ? 'one' : 'grid'}"/>`);
    grid.push(`<text x="${x}" y="${y + 8}" text-anchor="middle" class="axis">${v}x</text>`);
  }
  const m = run.machine;
  const legend = shown
    .map((id, i) => `<rect x="${labelWidth + i * 130}" y="58" width="12" height="10" fill="${colors[id]}"/><text x="${labelWidth + i * 130 + 17}" y="67" class="axis">${esc(nameOf(id))}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
.title{font-size:15px;font-weight:bold;fill:#222}.sub{font-size:11px;fill:#555}.label{font-size:11px;fill:#222}
.value{font-size:10px;fill:#1f6fb2}.axis{font-size:10px;fill:#555}.grid{stroke:#eee}.one{stroke:#999;stroke-dasharray:3 2}
.whisker{stroke:#000;stroke-width:1}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" class="title">hybi and its peers relative to ws + bufferutil (= 1x), longer is better; latency and memory inverted</text>
<text x="10" y="37" class="sub">${esc(`${m.date.slice(0, 10)}, Node ${m.node}${m.bun ? `, Bun ${m.bun}` : ''}, ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB; load average ${m.loadBefore[0].toFixed(2)} to ${m.loadAfter[0].toFixed(2)}`)}</text>
<text x="10" y="51" class="sub">${esc(`median of ${run.options.rounds} alternated rounds; whiskers: min-max${run.options.quick ? '; a --quick smoke run' : ''}`)}</text>
${legend}
${grid.join('\n')}
${body.join('\n')}
<text x="${labelWidth + plotWidth / 2}" y="${y + 24}" text-anchor="middle" class="axis">relative performance (x ws + bufferutil)</text>
</svg>
`;
}
