/**
 * What an idle server connection keeps on the heap (issue 24): the objects an idle connection does
 * not need are not made until it needs them, and the ones it keeps are in their compact form. Read
 * from a heap snapshot of this process, as bench/heap-per-connection.mjs does, so that what is
 * asserted is what a server with many idle connections pays.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSnapshot } from 'node:v8';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocketServerOptions } from '../../src/api/options/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { RawWebSocket } from '../helpers/raw-peer.js';
import { waitFor } from '../helpers/wait.js';

const CONNECTIONS = 20;

interface Snapshot {
  /** Objects of this class name. */
  count(name: string): number;
  /**
   * For each object of class `name` (that has a property `having`, if given): the object its
   * property `edge` points to, with its class name, type, self size and its own properties.
   */
  follow(name: string, edge: string, having?: string): Array<{ name: string; type: string; size: number; edges: Map<string, { name: string; type: string; size: number }> }>;
}

async function snapshot(): Promise<Snapshot> {
  const parts: string[] = [];
  for await (const chunk of getHeapSnapshot()) parts.push(String(chunk));
  const s = JSON.parse(parts.join('')) as {
    snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const { node_fields: nf, edge_fields: ef, node_types: [nodeTypes], edge_types: [edgeTypes] } = s.snapshot.meta;
  const [T, N, SIZE, EDGES] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [ET, EN, TO] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
  const count = s.nodes.length / nf.length;
  const firstEdge: number[] = [];
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge.push(e);
    e += s.nodes[i * nf.length + EDGES]! * ef.length;
  }
  firstEdge.push(s.edges.length);
  const node = (i: number) => ({ name: s.strings[s.nodes[i * nf.length + N]!]!, type: nodeTypes[s.nodes[i * nf.length + T]!]!, size: s.nodes[i * nf.length + SIZE]! });
  const edges = (i: number) => {
    const out = new Map<string, number>();
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef.length) {
      const type = edgeTypes[s.edges[e + ET]!]!;
      if (type === 'weak') continue;
      const name = type === 'element' || type === 'hidden' ? String(s.edges[e + EN]) : s.strings[s.edges[e + EN]!]!;
      out.set(name, s.edges[e + TO]! / nf.length);
    }
    return out;
  };
  const objects = (name: string) => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) if (nodeTypes[s.nodes[i * nf.length + T]!] === 'object' && s.strings[s.nodes[i * nf.length + N]!] === name) out.push(i);
    return out;
  };
  return {
    count: (name) => objects(name).length,
    follow: (name, edge, having) =>
      objects(name).flatMap((i) => {
        const own = edges(i);
        if (having !== undefined && !own.has(having)) return [];
        const to = own.get(edge);
        if (to === undefined) return [];
        return [{ ...node(to), edges: new Map([...edges(to)].map(([k, v]) => [k, node(v)])) }];
      }),
  };
}

/**
 * Registers the suite's before and after hooks: an echo server with `options` and CONNECTIONS raw
 * clients, all open before the tests run and all gone after. Returns the clients.
 */
function echoConnections(options: WebSocketServerOptions = {}): RawWebSocket[] {
  let server: WebSocketServer;
  const clients: RawWebSocket[] = [];
  const accepted: WebSocket[] = [];

  before(async () => {
    server = new WebSocketServer(options);
    server.on('connection', (ws) => {
      accepted.push(ws);
      ws.on('message', (data, isBinary) => void ws.send(data, { binary: isBinary }).catch(() => {}));
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    for (let i = 0; i < CONNECTIONS; i++) clients.push(await RawWebSocket.open(port));
    await waitFor(() => accepted.length === CONNECTIONS && accepted.every((ws) => ws.readyState === 'open'), { what: 'every connection open' });
  });

  after(async () => {
    for (const client of clients) client.client.socket.destroy();
    await server.close();
    // Nothing of these connections may stay reachable into the next snapshots.
    accepted.length = 0;
  });
  return clients;
}

describe('an idle server connection', () => {
  const clients = echoConnections();

  it('has no frame parser, message assembler or frame writer until it receives or sends a message, and then has them', async () => {
    const idle = await snapshot();
    assert.equal(idle.count('FrameParser'), 0, 'no parser before the first byte');
    assert.equal(idle.count('MessageAssembler'), 0);
    assert.equal(idle.count('FrameWriter'), 0);
    // The parts are made when needed: a message on one connection is received and echoed.
    clients[0]!.send({ opcode: 1, payload: Buffer.from('hello') });
    await waitFor(() => clients[0]!.frames().length === 1, { what: 'the echo' });
    assert.equal(Buffer.from(clients[0]!.frames()[0]!.payload).toString(), 'hello');
    const used = await snapshot();
    assert.equal(used.count('FrameParser'), 1);
    assert.equal(used.count('MessageAssembler'), 1);
    assert.equal(used.count('FrameWriter'), 1);
  });

  it('keeps its WebSocket, driver and core connection within a budget of 600 bytes together', async () => {
    // issue 24, idle memory: 792 bytes (280 + 352 + 160) before session 5, 536 after it; the
    // budget leaves room for a few fields more, not for a return of the old layout.
    const idle = await snapshot();
    const sockets = idle.follow('WebSocket', 'driver');
    assert.equal(sockets.length, CONNECTIONS);
    for (const driver of sockets) {
      const connection = driver.edges.get('connection')!;
      const ws = driver.edges.get('events')!;
      assert.equal(connection.name, 'Connection');
      assert.equal(ws.name, 'WebSocket');
      const total = ws.size + driver.size + connection.size;
      assert.ok(total <= 600, `WebSocket ${ws.size} + SocketDriver ${driver.size} + Connection ${connection.size} = ${total} bytes`);
    }
  });

  it("keeps its WebSocket's listeners in a compact table, not a dictionary", async () => {
    const tables = (await snapshot()).follow('WebSocket', '_events');
    assert.equal(tables.length, CONNECTIONS);
    for (const table of tables) {
      // A dictionary-mode table is a 24-byte object with a 160-byte hash table behind it; a fast
      // one holds its few listeners in itself.
      const outOfObject = table.edges.get('properties')?.size ?? 0;
      assert.ok(table.size + outOfObject <= 64, `listener table of ${table.size} + ${outOfObject} bytes`);
      assert.ok(table.edges.has('message') && table.edges.has('close'), 'the listeners are in the table');
    }
  });

  it("keeps one 'end' listener entry on its socket, not a listener array", async () => {
    // The server's sockets: those the driver reads (the test's own client sockets are not).
    const tables = (await snapshot()).follow('Socket', '_events', '<symbol hybi.driver>');
    assert.equal(tables.length, CONNECTIONS);
    for (const table of tables) assert.equal(table.edges.get('end')?.type, 'closure', "the socket's 'end' listener is one function");
  });
});

describe('an idle server connection that keep-alive pings', () => {
  // A short real interval; the peers never answer, so no pong bound that would fail them.
  const clients = echoConnections({ pingInterval: 50, pongTimeout: 0 });
  const pingsAfter = (client: RawWebSocket, skip: number) => client.frames().slice(skip).filter((f) => f.opcode === 9).length;

  it('keeps no frame writer, output slab or frame parser for its pings, nor for a message it exchanged before going quiet', async () => {
    // One connection sends a message first: its echo makes the writer and its 1 KiB slab.
    clients[0]!.send({ opcode: 1, payload: Buffer.from('hello') });
    await waitFor(() => clients[0]!.frames().some((f) => f.opcode === 1), { what: 'the echo' });
    const echoAt = clients[0]!.frames().findIndex((f) => f.opcode === 1);
    // Then every connection is pinged at least twice (the first one quiet since its echo).
    await waitFor(() => clients.every((client, i) => pingsAfter(client, i === 0 ? echoAt + 1 : 0) >= 2), { what: 'two pings on every connection' });
    const quiet = await snapshot();
    assert.equal(quiet.count('FrameWriter'), 0, 'no connection keeps a frame writer (and its slab) after pings');
    assert.equal(quiet.count('FrameParser'), 0, 'no connection keeps a frame parser after pings');
    // The pings are well-formed and the connections still carry messages.
    for (const client of clients) for (const f of client.frames().filter((f) => f.opcode === 9)) assert.equal(f.payload.length, 0);
    clients[1]!.send({ opcode: 2, payload: Buffer.from([1, 2, 3]) });
    await waitFor(() => clients[1]!.frames().some((f) => f.opcode === 2), { what: 'the echo after the pings' });
    assert.deepEqual([...clients[1]!.frames().find((f) => f.opcode === 2)!.payload], [1, 2, 3]);
  });
});

