// The load suite's report: a markdown table (bench/results/latest.md) and a hand-written SVG
// chart (bench/results/latest.svg) with no dependencies.

const REF = 'ws+bufferutil';

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

/** "median (min-max)". */
function cell(s) {
  if (s === undefined || !Number.isFinite(s.median)) return '-';
  if (s.n === 1) return compact(s.median);
  return `${compact(s.median)} (${compact(s.min)}-${compact(s.max)})`;
}

/** hybi / reference for the metric as measured (so for latency and memory, below 1 is better). */
function ratioOf(a, b) {
  return a && b && Number.isFinite(a.median) && Number.isFinite(b.median) && b.median !== 0 ? a.median / b.median : NaN;
}

/**
 * Connections per second that one core of server CPU serves: 10^6 / CPU us per connection (min
 * and max swap). What the connection rate would be if the generator were not the limit.
 */
function oneCoreRate(summary) {
  const cpu = summary?.cpuPerOp;
  if (cpu === undefined || !Number.isFinite(cpu.median)) return undefined;
  return { median: 1e6 / cpu.median, min: 1e6 / cpu.max, max: 1e6 / cpu.min, n: cpu.n };
}

/**
 * Appends a table of CPU time per operation for the entries that have it for hybi and the
 * reference: one column per peer in `peers`, then reference / hybi.
 */
function cpuTable(lines, entries, intro, peers, headings) {
  const rows = entries.filter((e) => e.summary.hybi?.cpuPerOp && e.summary[REF]?.cpuPerOp);
  if (rows.length === 0) return;
  lines.push(...intro, '', `| workload | ${headings.join(' | ')} |`, `| --- |${' --- |'.repeat(headings.length)}`);
  for (const e of rows) {
    const s = e.summary;
    const ratio = s[REF].cpuPerOp.median / s.hybi.cpuPerOp.median;
    lines.push(`| ${e.workload.title} | ${peers.map((id) => cell(s[id]?.cpuPerOp)).join(' | ')} | ${ratio.toFixed(2)} |`);
  }
  lines.push('');
}

function targetText(w) {
  if (w.target === null || w.target === undefined) return '-';
  return w.better === 'higher' ? `>= ${w.target}x` : `<= ${w.target}x`;
}

function met(w, ratio) {
  if (w.target === null || w.target === undefined || !Number.isFinite(ratio)) return '';
  return (w.better === 'higher' ? ratio >= w.target : ratio <= w.target) ? 'yes' : 'no';
}

function machineLines(run) {
  const m = run.machine;
  const o = run.options;
  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  return [
    `${m.date.slice(0, 10)}, Node ${m.node}, ${m.cpu} x ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, ${m.platform}.`,
    `Load average (1, 5, 15 min) ${load(m.loadBefore)} before, ${load(m.loadAfter)} after, highest 1-min ${m.loadMax.toFixed(2)}` +
      ' (the machine is shared: other work runs at the same time).',
    `Each figure is the median of ${o.rounds} runs of ${o.time} ms (after ${o.warmup} ms of warm-up in each), peers measured` +
      ` alternately, with the min-max range in parentheses; ${o.genProcs} load generator process(es). The suite took ${m.seconds.toFixed(0)} s.`,
  ];
}

/** The whole markdown report. */
export function renderMarkdown(run) {
  const lines = ['# hybi load benchmarks', '', ...machineLines(run), ''];
  const server = run.results.filter((e) => !e.workload.kind.startsWith('client-'));
  const client = run.results.filter((e) => e.workload.kind.startsWith('client-'));
  if (server.length > 0) {
    lines.push(
      '## Server side',
      '',
      'Servers in separate processes on 127.0.0.1, driven by raw-socket load generators (prebuilt masked frames,',
      'pipelined). "raw node:net": the same generator against a bare node:net server that echoes bytes verbatim',
      '(broadcast: writes one prebuilt buffer per socket) after a canned 101: the most the generator and Node\'s',
      'socket layer can show, i.e. the generator\'s ceiling; for memory, the floor of a bare socket.',
      'Ratio: hybi / ws+bufferutil (for latency and memory lower is better).',
      '',
      '| workload | unit | hybi | ws | ws + bufferutil | hybi / ws+bu | target | met | raw node:net |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const e of server) {
      const w = e.workload;
      const s = e.summary;
      const label = w.kind === 'latency' ? `${w.title}: p50` : w.title;
      const ratio = ratioOf(s.hybi, s[REF]);
      lines.push(`| ${label} | ${w.unit} | ${cell(s.hybi)} | ${cell(s.ws)} | ${cell(s[REF])} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'} | ${targetText(w)} | ${met(w, ratio)} | ${cell(e.ceilingSummary)} |`);
      if (w.kind === 'latency') {
        const r99 = ratioOf(s.hybi?.p99, s[REF]?.p99);
        lines.push(`| ${w.title}: p99 | us | ${cell(s.hybi?.p99)} | ${cell(s.ws?.p99)} | ${cell(s[REF]?.p99)} | ${Number.isFinite(r99) ? r99.toFixed(2) : '-'} | - |  | ${cell(e.ceilingSummary?.p99)} |`);
      }
      if (w.kind === 'connect' && oneCoreRate(s.hybi) !== undefined) {
        const rc = ratioOf(oneCoreRate(s.hybi), oneCoreRate(s[REF]));
        const cells = [s.hybi, s.ws, s[REF]].map((x) => cell(oneCoreRate(x)));
        lines.push(`| ${w.title}: one core's worth (10^6 / server CPU us per connection) | conn/s | ${cells.join(' | ')} | ${Number.isFinite(rc) ? rc.toFixed(2) : '-'} | ${targetText(w)} | ${met(w, rc)} | ${cell(oneCoreRate(e.ceilingSummary))} |`);
      }
      if (w.kind === 'memory' && s.hybi?.heap) {
        // The live heap the connections hold, without the collector's sizing of its spaces.
        const rh = ratioOf(s.hybi?.heap, s[REF]?.heap);
        lines.push(`| ${w.title}: JS heap in use | KiB/conn | ${cell(s.hybi?.heap)} | ${cell(s.ws?.heap)} | ${cell(s[REF]?.heap)} | ${Number.isFinite(rh) ? rh.toFixed(2) : '-'} | - |  | ${cell(e.ceilingSummary?.heap)} |`);
      }
    }
    lines.push('');
    const memory = server.find((e) => e.workload.kind === 'memory');
    if (memory) {
      const detail = [];
      for (const [id, list] of memory.samples) {
        const last = list[list.length - 1];
        if (last) detail.push(`${id}: heap ${last.heap.toFixed(1)} KiB + external ${last.external.toFixed(1)} KiB per connection (RSS ${last.rssBefore.toFixed(0)} -> ${last.rssAfter.toFixed(0)} MiB)`);
      }
      lines.push(
        `Memory: server RSS after a full GC, with ${run.options.idleCount.toLocaleString('en-US')} idle connections minus before them, per connection; the row below it is the JS heap in use (heapUsed) the same way. RSS also holds what the garbage collector keeps after growing its spaces while the connections were opened (the young generation stays at its largest, about 3 KiB per connection at 10,000), so the raw socket's RSS is the floor any net.Socket server starts from. Last run: ${detail.join('; ')}.`,
        '',
      );
    }
    const connect = server.find((e) => e.workload.kind === 'connect');
    if (connect && connect.summary.hybi && connect.ceilingSummary && connect.summary.hybi.median >= 0.9 * connect.ceilingSummary.median) {
      lines.push(
        `New connections: hybi's rate is ${((100 * connect.summary.hybi.median) / connect.ceilingSummary.median).toFixed(0)}% of what the generator reaches against the bare server, so the rate row measures the generator (on this machine a loopback connection costs the client about as much CPU as the server: the kernel runs much of the TCP handshake in the connecting process). The "one core's worth" row divides one core by each server's CPU per connection: the rate each server could serve if the generator kept up.`,
        '',
      );
    }
    cpuTable(
      lines,
      server,
      [
        'Server CPU time per operation (message, delivery or connection), in microseconds: the server\'s CPU share',
        'during a run divided by its rate. Less sensitive than the rates to other work on the machine. Ratio: ws+bu / hybi',
        '(above 1: hybi spends less).',
      ],
      ['hybi', 'ws', REF],
      ['hybi', 'ws', 'ws + bufferutil', 'ws+bu / hybi'],
    );
    const alt = server.filter((e) => e.ceiling?.alternative);
    if (alt.length > 0) {
      lines.push('Generator ceiling with one and two generator processes (raw echo server):', '');
      for (const e of alt) {
        const a = e.ceiling.alternative;
        const procs = run.options.genProcs;
        lines.push(`- ${e.workload.title}: ${compact(e.ceilingSummary.median)} ${e.workload.unit} with ${procs}, ${compact(a.samples[0].value)} with ${a.procs}.`);
      }
      lines.push('');
    }
  }
  if (client.length > 0) {
    lines.push(
      '## Client side',
      '',
      'Client libraries in a process of their own against the raw reference server (it answers every frame with a',
      'prebuilt frame of the same size, so the client is what is measured). Ratio: hybi / ws client with bufferutil.',
      '',
      '| workload | unit | hybi client | ws client + bufferutil | hybi / ws | target | met |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const e of client) {
      const w = e.workload;
      const s = e.summary;
      const label = w.kind === 'client-latency' ? `${w.title}: p50` : w.title;
      const ratio = ratioOf(s.hybi, s[REF]);
      lines.push(`| ${label} | ${w.unit} | ${cell(s.hybi)} | ${cell(s[REF])} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'} | ${targetText(w)} | ${met(w, ratio)} |`);
      if (w.kind === 'client-latency') {
        const r99 = ratioOf(s.hybi?.p99, s[REF]?.p99);
        lines.push(`| ${w.title}: p99 | us | ${cell(s.hybi?.p99)} | ${cell(s[REF]?.p99)} | ${Number.isFinite(r99) ? r99.toFixed(2) : '-'} | - |  |`);
      }
    }
    lines.push('');
    cpuTable(
      lines,
      client,
      [
        'Client CPU time per message (sent and echoed), in microseconds: the client process\'s CPU share during a run',
        'divided by its rate, as for the servers above. Ratio: ws client / hybi client (above 1: hybi spends less).',
      ],
      ['hybi', REF],
      ['hybi client', 'ws client + bufferutil', 'ws / hybi'],
    );
  }
  if (run.failures?.length > 0) {
    lines.push('## Failed workloads', '', ...run.failures.map((f) => `- ${f}`), '');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar chart of every workload, each peer relative to ws + bufferutil (= 1), oriented
 * so that longer is better (for latency and memory the ratio is inverted), with the min-max
 * range as a whisker and the target as a tick.
 */
export function renderSvg(run) {
  const rows = [];
  /** One row of bars: each peer of `s` relative to ws+bufferutil's median (so longer is better). */
  const addRow = (label, w, s) => {
    const ref = s[REF];
    if (!ref || !Number.isFinite(ref.median)) return;
    const isClient = w.kind.startsWith('client-');
    const norm = (v) => (w.better === 'higher' ? v / ref.median : ref.median / v);
    const bars = [];
    for (const id of isClient ? ['hybi', REF] : ['hybi', 'ws', REF]) {
      const x = s[id];
      if (!x || !Number.isFinite(x.median)) continue;
      const lo = norm(w.better === 'higher' ? x.min : x.max);
      const hi = norm(w.better === 'higher' ? x.max : x.min);
      bars.push({ id, value: norm(x.median), lo, hi });
    }
    const target = w.target ? (w.better === 'higher' ? w.target : 1 / w.target) : null;
    rows.push({ label, bars, target });
  };
  for (const e of run.results) {
    const w = e.workload;
    addRow(w.kind.endsWith('latency') ? `${w.title} (p50)` : w.title, w, e.summary);
    if (w.kind === 'connect') {
      const s = e.summary;
      addRow("new connections: one core's worth", w, { hybi: oneCoreRate(s.hybi), ws: oneCoreRate(s.ws), [REF]: oneCoreRate(s[REF]) });
    }
  }
  const colors = { hybi: '#1f6fb2', ws: '#c9c9c9', [REF]: '#7a7a7a' };
  const names = { hybi: 'hybi', ws: 'ws', [REF]: 'ws + bufferutil' };
  const labelWidth = 330;
  const plotWidth = 520;
  const barHeight = 9;
  const rowGap = 12;
  const top = 92;
  const maxValue = Math.max(2, ...rows.flatMap((r) => [...r.bars.map((b) => Math.max(b.value, b.hi)), r.target ?? 0])) * 1.08;
  const scale = (v) => (Math.min(v, maxValue) / maxValue) * plotWidth;
  let y = top;
  const body = [];
  for (const row of rows) {
    const height = row.bars.length * barHeight;
    body.push(`<text x="${labelWidth - 10}" y="${y + height / 2 + 4}" text-anchor="end" class="label">${esc(row.label)}</text>`);
    row.bars.forEach((b, i) => {
      const by = y + i * barHeight;
      body.push(`<rect x="${labelWidth}" y="${by}" width="${scale(b.value).toFixed(1)}" height="${barHeight - 1}" fill="${colors[b.id]}"><title>${esc(names[b.id])}: ${b.value.toFixed(2)}x</title></rect>`);
      if (Number.isFinite(b.lo) && Number.isFinite(b.hi) && b.hi > b.lo) {
        const cy = by + (barHeight - 1) / 2;
        body.push(`<line x1="${(labelWidth + scale(b.lo)).toFixed(1)}" x2="${(labelWidth + scale(b.hi)).toFixed(1)}" y1="${cy}" y2="${cy}" class="whisker"/>`);
      }
      if (b.id === 'hybi') body.push(`<text x="${(labelWidth + scale(Math.max(b.value, b.hi)) + 4).toFixed(1)}" y="${by + barHeight - 1}" class="value">${b.value.toFixed(2)}x</text>`);
    });
    if (row.target !== null) {
      const tx = (labelWidth + scale(row.target)).toFixed(1);
      body.push(`<line x1="${tx}" x2="${tx}" y1="${y - 2}" y2="${y + height + 1}" class="target"><title>target ${row.target.toFixed(2)}x</title></line>`);
    }
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
  const legend = Object.entries(names)
    .map(([id, name], i) => `<rect x="${labelWidth + i * 150}" y="58" width="12" height="10" fill="${colors[id]}"/><text x="${labelWidth + i * 150 + 17}" y="67" class="axis">${esc(name)}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
.title{font-size:15px;font-weight:bold;fill:#222}.sub{font-size:11px;fill:#555}.label{font-size:11px;fill:#222}
.value{font-size:10px;fill:#1f6fb2}.axis{font-size:10px;fill:#555}.grid{stroke:#eee}.one{stroke:#999;stroke-dasharray:3 2}
.whisker{stroke:#000;stroke-width:1}.target{stroke:#d62728;stroke-width:2}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" class="title">hybi vs ws: relative to ws + bufferutil (= 1x), longer is better; latency and memory inverted</text>
<text x="10" y="37" class="sub">${esc(`${m.date.slice(0, 10)}, Node ${m.node}, ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB; load average ${m.loadBefore[0].toFixed(2)} to ${m.loadAfter[0].toFixed(2)}`)}</text>
<text x="10" y="51" class="sub">${esc(`median of ${run.options.rounds} alternating runs; whiskers: min-max; red tick: the issue's target`)}</text>
${legend}
${grid.join('\n')}
${body.join('\n')}
<text x="${labelWidth + plotWidth / 2}" y="${y + 24}" text-anchor="middle" class="axis">relative performance (x ws + bufferutil)</text>
</svg>
`;
}
