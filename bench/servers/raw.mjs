// The reference server: plain node:net, a canned 101, no WebSocket library. It does the least
// work any Node server could do for each workload, so it measures the load generator's own
// ceiling (and, on the client side, gives the clients under test a server that is never the
// bottleneck). Paths:
//   /echo       echoes every byte read, verbatim (masked frames come back masked: the generator
//               only reads headers, so it counts them all the same) - the generator's ceiling
//   /reply      answers every whole client frame with an unmasked frame of the same opcode and
//               length (payload of fixed bytes): a correct-enough server for real clients
//   /broadcast  every whole frame from any /broadcast client is answered by one unmasked frame
//               of its length to every /broadcast client, all frames of one read in one write
// A close frame is answered with a close frame, then the server ends TCP first (RFC 6455 7.1.1).
import { createHash } from 'node:crypto';
import net from 'node:net';
import { FrameCounter, headEnd } from '../lib/wire.mjs';
import { serve } from './common.mjs';

const CLOSE_FRAME = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
/** Small replies are kept this many times over, back to back, so that k replies are one slice. */
const REPEAT = 64;

/** Opcode+length -> { one, many } prebuilt unmasked frames of payload 'x...'. */
const replies = new Map();
let bigPayload = Buffer.alloc(0);

function replyFor(opcode, length) {
  const key = opcode * 0x1_0000_0000 + length;
  let entry = replies.get(key);
  if (entry !== undefined) return entry;
  const size = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const header = Buffer.alloc(size);
  header[0] = 0x80 | opcode;
  if (length < 126) header[1] = length;
  else if (length < 0x10000) {
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 127;
    header.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  if (length <= 1024 * 1024) {
    const one = Buffer.concat([header, Buffer.alloc(length, 0x78)]);
    const count = length <= 1024 ? REPEAT : 1;
    const many = Buffer.allocUnsafeSlow(one.length * count);
    for (let i = 0; i < count; i++) one.copy(many, i * one.length);
    entry = { one, many, header: null };
  } else {
    if (bigPayload.length < length) bigPayload = Buffer.alloc(length, 0x78);
    entry = { one: null, many: null, header };
  }
  replies.set(key, entry);
  return entry;
}

/**
 * Collects the replies to the frames of one read as a list of buffers: runs of the same small
 * frame become one slice of its repeated form.
 */
class ReplyBatch {
  constructor() {
    this.parts = [];
    this.runEntry = null;
    this.runCount = 0;
  }

  add(opcode, length) {
    const entry = replyFor(opcode, length);
    if (entry === this.runEntry && this.runCount * entry.one.length < entry.many.length) {
      this.runCount++;
      return;
    }
    this.flushRun();
    if (entry.header !== null) {
      this.parts.push(entry.header, bigPayload.subarray(0, length));
    } else {
      this.runEntry = entry;
      this.runCount = 1;
    }
  }

  flushRun() {
    if (this.runEntry !== null) {
      this.parts.push(this.runEntry.many.subarray(0, this.runCount * this.runEntry.one.length));
      this.runEntry = null;
      this.runCount = 0;
    }
  }

  take() {
    this.flushRun();
    const parts = this.parts;
    this.parts = [];
    return parts;
  }
}

function writeAll(socket, parts) {
  if (parts.length === 1) {
    socket.write(parts[0]);
    return;
  }
  socket.cork();
  for (const part of parts) socket.write(part);
  socket.uncork();
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The 101 for a request head: Sec-WebSocket-Accept computed from its key (RFC 6455 section 4.2.2), as real clients check it. */
function upgradeResponse(head) {
  const match = /\r\nsec-websocket-key:[ \t]*([^\r]*)/i.exec(head);
  const key = match === null ? '' : match[1].trim();
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  return Buffer.from(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    'latin1',
  );
}

const sockets = new Set();
const broadcastGroup = new Set();
let upgraded = 0;

function onUpgraded(socket, path, rest) {
  upgraded++;
  socket.setNoDelay(true);
  let closing = false;
  const closeSeen = () => {
    if (closing) return;
    closing = true;
    socket.end(CLOSE_FRAME);
  };
  let handle;
  if (path === '/echo') {
    // Verbatim: only a close frame needs noticing, and only the connection-rate workload sends one.
    const counter = new FrameCounter((opcode) => {
      if (opcode === 8) closeSeen();
    });
    handle = (chunk) => {
      counter.push(chunk);
      if (!closing) socket.write(chunk);
    };
  } else if (path === '/reply' || path === '/broadcast') {
    const batch = new ReplyBatch();
    const counter = new FrameCounter((opcode, length) => {
      if (opcode === 8) closeSeen();
      else if (opcode < 8) batch.add(opcode, length);
    });
    if (path === '/reply') {
      handle = (chunk) => {
        counter.push(chunk);
        const parts = batch.take();
        if (parts.length !== 0 && !closing) writeAll(socket, parts);
      };
    } else {
      broadcastGroup.add(socket);
      handle = (chunk) => {
        counter.push(chunk);
        const parts = batch.take();
        if (parts.length === 0) return;
        for (const peer of broadcastGroup) writeAll(peer, parts);
      };
    }
  } else {
    const counter = new FrameCounter((opcode) => {
      if (opcode === 8) closeSeen();
    });
    handle = (chunk) => counter.push(chunk);
  }
  socket.on('data', handle);
  socket.on('close', () => {
    broadcastGroup.delete(socket);
    upgraded--;
  });
  if (rest.length !== 0) handle(rest);
}

const server = net.createServer({ noDelay: true }, (socket) => {
  sockets.add(socket);
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
  let head = Buffer.alloc(0);
  const onHead = (chunk) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const end = headEnd(head);
    if (end === -1) {
      if (head.length > 16384) socket.destroy();
      return;
    }
    socket.off('data', onHead);
    const text = head.toString('latin1', 0, end);
    const path = text.slice(0, text.indexOf('\r\n')).split(' ')[1] ?? '/';
    socket.write(upgradeResponse(text));
    onUpgraded(socket, path, head.subarray(end));
  };
  socket.on('data', onHead);
});

server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  serve({
    port: server.address().port,
    connections: () => upgraded,
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  });
});
