// The load suite's rows and peers (load.mjs runs them): which servers and clients take part, and
// what each workload measures, with issue 24's targets.
import { basename } from 'node:path';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Workload groups, in the order they run; `--only` takes these names or single workload ids. */
export const GROUPS = ['echo', 'latency', 'large', 'broadcast', 'publish', 'memory', 'connect', 'client', 'kept', 'http2'];

/** The peers a run takes when --peers does not name them. */
const DEFAULT_PEERS = ['hybi', 'ws+bufferutil', 'node-raw', 'bun'];

/** Which peers take part: `peers` (--peers) names them (hybi always), 'all' adds ws without bufferutil. */
export function peerFilter(peers) {
  return (id) =>
    id === 'hybi' || id.startsWith('hybi@') || id === 'hybi-h2'
      ? true
      : peers === null
        ? DEFAULT_PEERS.includes(id)
        : peers.includes('all') || peers.includes(id);
}

/**
 * The peers of a run. `compare`: directories of other hybi builds (--compare), each a peer
 * `hybi@<name>`; `bun`: Bun's binary (lib/bun.mjs) or null; `wanted`: peerFilter's predicate.
 *   servers  servers under test, in the order they are measured within a round. `paths` maps a
 *            workload's path to the one that gives the peer's version of it (node-raw's canned
 *            replies are /reply)
 *   raw      the generator's own ceiling: the raw server echoing bytes verbatim (no frame is answered)
 *   clients  clients under test, against node-raw's /reply
 *   pairs    the HTTP/2 rows: a client library against its own library's server, both ways of
 *            carrying the WebSocket side by side (hybi-h2: every WebSocket of the client is a
 *            stream of one h2c session)
 */
export function definePeers({ compare, bun, wanted }) {
  const builds = compare ?? [];
  const servers = [
    { id: 'hybi', script: 'servers/hybi.mjs', env: {} },
    ...builds.map((dir) => ({ id: `hybi@${basename(dir)}`, script: 'servers/hybi.mjs', env: { HYBI_BENCH_DIST: dir } })),
    { id: 'ws+bufferutil', script: 'servers/ws.mjs', env: {} },
    { id: 'node-raw', script: 'servers/raw.mjs', env: {}, paths: { '/echo': '/reply', '/publish': '/broadcast' } },
    ...(bun ? [{ id: 'bun', script: 'servers/bun.mjs', env: {}, command: bun.path }] : []),
    { id: 'ws', script: 'servers/ws.mjs', env: { WS_NO_BUFFER_UTIL: '1' } },
  ].filter((p) => wanted(p.id));
  const raw = { id: 'raw', script: 'servers/raw.mjs', env: {} };
  const clients = [
    { id: 'hybi', impl: 'hybi', env: {} },
    ...builds.map((dir) => ({ id: `hybi@${basename(dir)}`, impl: 'hybi', env: { HYBI_BENCH_DIST: dir } })),
    { id: 'ws+bufferutil', impl: 'ws', env: {} },
    ...(bun ? [{ id: 'bun', impl: 'bun', env: {}, command: bun.path }] : []),
  ].filter((p) => wanted(p.id));
  const pairs = [
    { id: 'hybi-h2', impl: 'hybi-h2', server: { id: 'hybi-h2 server', script: 'servers/hybi.mjs', env: { HYBI_BENCH_H2: '1' } } },
    { id: 'hybi', impl: 'hybi', server: { id: 'hybi server', script: 'servers/hybi.mjs', env: {} } },
    { id: 'ws+bufferutil', impl: 'ws', server: { id: 'ws+bufferutil server', script: 'servers/ws.mjs', env: {} } },
  ].filter((p) => wanted(p.id));
  return { servers, raw, clients, pairs };
}

const large = (peer) => [{ peer, metric: 'value', min: 1, cpu: true }];
/**
 * The large rows once more with glibc told to keep the memory it frees (every process of the row,
 * each peer alike): by default each process draws whether glibc gives freed memory back and
 * faults it in again, which moves CPU per message by up to 4x for any library (docs/server.md,
 * "Large messages and the C allocator"). These rows show the libraries' own cost; the default
 * rows above them show what a default deployment gets.
 */
const KEEP_FREED_MEMORY = { MALLOC_TRIM_THRESHOLD_: '268435456', MALLOC_MMAP_THRESHOLD_: '268435456' };
/** A large-message echo row of one library (server or client): where the allocator's state decides CPU. */
export const isLargeEcho = (w) => (w.kind === 'echo' || w.kind === 'client-echo') && w.size >= 64 * KiB;
const kept = (w) => ({ ...w, group: 'kept', id: `${w.id}-kept`, title: `${w.title} (glibc keeps freed memory)`, env: KEEP_FREED_MEMORY });

/**
 * Workloads. kind: echo | latency | broadcast | connect | memory (server side, driven by the
 * generator), client-echo | client-latency (client side), pair-echo | pair-memory (HTTP/2 rows).
 * `better`: which way is good. `targets`: issue 24's goals, each a ratio hybi / `peer` of
 * `metric` that must be at least (`min`) or at most (`max`) the given value; `cpu: true` also
 * asks for CPU per message at most the peer's, and judges by it where the rates overlap.
 * `extra`: not in a full run, only when named with --only. `idleCount` and `h2IdleCount`: the
 * idle connections of the memory rows.
 */
export function defineWorkloads({ idleCount, h2IdleCount }) {
  const workloads = [
    { group: 'echo', id: 'echo-32-16', title: 'echo 32 B, 16 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', targets: [{ peer: 'node-raw', metric: 'value', min: 0.7 }], ceiling: true },
    { group: 'echo', id: 'echo-32-256', title: 'echo 32 B, 256 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 256, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', targets: [{ peer: 'node-raw', metric: 'value', min: 0.7 }], ceiling: true },
    { group: 'echo', id: 'echo-32-text', extra: true, title: 'echo 32 B text, 16 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 16, inflight: 16, size: 32, opcode: 1, unit: 'msg/s', better: 'higher' },
    { group: 'latency', id: 'latency', title: 'latency 32 B, 1 conn x 1 in flight', kind: 'latency', path: '/echo', conns: 1, size: 32, unit: 'us', better: 'lower', targets: [{ peer: 'ws+bufferutil', metric: 'value', max: 1 }] },
    { group: 'large', id: 'echo-64k', title: 'echo 64 KiB binary, 2 conns x 2 in flight', kind: 'echo', path: '/echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
    { group: 'large', id: 'echo-1m', title: 'echo 1 MiB binary, 1 conn x 2 in flight', kind: 'echo', path: '/echo', conns: 1, inflight: 2, size: MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
    { group: 'large', id: 'echo-16m', title: 'echo 16 MiB binary, 1 conn x 1 in flight', kind: 'echo', path: '/echo', conns: 1, inflight: 1, size: 16 * MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
    { group: 'broadcast', id: 'broadcast', title: 'broadcast 32 B to 1,000 clients (hybi: server.broadcast)', kind: 'broadcast', path: '/broadcast', conns: 1000, window: 32, size: 32, unit: 'deliveries/s', better: 'higher' },
    { group: 'publish', id: 'publish', title: 'publish 32 B to 1,000 subscribers (hybi: server.publish)', kind: 'broadcast', path: '/publish', conns: 1000, window: 32, size: 32, unit: 'deliveries/s', better: 'higher', targets: [{ peer: 'bun', metric: 'value', min: 0.75 }] },
    { group: 'memory', id: 'memory', title: `memory, ${idleCount.toLocaleString('en-US')} idle conns`, kind: 'memory', path: '/echo', conns: idleCount, unit: 'KiB/conn', better: 'lower', targets: [{ peer: 'ws+bufferutil', metric: 'excess', max: 0.5 }] },
    { group: 'connect', id: 'connect', title: 'new connections (handshake + close)', kind: 'connect', path: '/echo', concurrency: 32, unit: 'conn/s', better: 'higher', targets: [{ peer: 'ws+bufferutil', metric: 'value', min: 1.5 }, { peer: 'ws+bufferutil', metric: 'oneCore', min: 1.5 }], ceiling: true },
    { group: 'client', id: 'client-echo-32-16', title: 'client: echo 32 B, 16 conns x 16', kind: 'client-echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher' },
    { group: 'client', id: 'client-echo-32-256', title: 'client: echo 32 B, 256 conns x 16', kind: 'client-echo', conns: 256, inflight: 16, size: 32, unit: 'msg/s', better: 'higher' },
    { group: 'client', id: 'client-latency', title: 'client: latency 32 B, 1 x 1', kind: 'client-latency', conns: 1, size: 32, unit: 'us', better: 'lower' },
    { group: 'client', id: 'client-echo-64k', title: 'client: echo 64 KiB, 2 conns x 2', kind: 'client-echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
    { group: 'client', id: 'client-echo-1m', title: 'client: echo 1 MiB, 1 conn x 2', kind: 'client-echo', conns: 1, inflight: 2, size: MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
    { group: 'client', id: 'client-echo-16m', title: 'client: echo 16 MiB, 1 conn x 1', kind: 'client-echo', conns: 1, inflight: 1, size: 16 * MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
  ];
  workloads.push(...workloads.filter(isLargeEcho).map(kept));
  workloads.push(
    { group: 'http2', id: 'h2-echo-32-16', title: 'HTTP/2: echo 32 B, 16 WebSockets x 16 (client and server)', kind: 'pair-echo', path: '/echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher' },
    { group: 'http2', id: 'h2-echo-64k', title: 'HTTP/2: echo 64 KiB, 2 WebSockets x 2 (client and server)', kind: 'pair-echo', path: '/echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher' },
    { group: 'http2', id: 'h2-memory', title: `HTTP/2: memory, ${h2IdleCount.toLocaleString('en-US')} idle WebSockets`, kind: 'pair-memory', path: '/echo', conns: h2IdleCount, unit: 'KiB/conn', better: 'lower' },
  );
  return workloads;
}
