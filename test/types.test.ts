// The published type declarations, as a TypeScript user meets them: small scratch projects that
// import 'hybi' and 'hybi/browser' from the built dist/ (through the package's exports map) are
// compiled with the repository's own tsc, strict and with skipLibCheck off, so hybi's .d.ts files
// are checked too. Code that must not compile carries `// @ts-expect-error`: tsc reports a
// directive with no error under it, so the expected-bad lines are checked as well as the good.
// One project has only ES2022 and @types/node (a Node program), one adds the DOM lib (code shared
// with a browser build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** Code for any project: the native API's types. */
const nativeApi = `
import { Buffer } from 'node:buffer';
import {
  connect, isHybiError, WebSocket, WebSocketServer, InvalidArgumentError,
  type HybiError, type MessageListenerArgs, type WebSocketReadyState,
} from 'hybi';

// Error classes narrow on their literal code.
export function describeError(err: HybiError): string {
  switch (err.code) {
    case 'ERR_CONNECT': return \`\${err.host}:\${err.port} \${err.timedOut}\`;
    case 'ERR_HANDSHAKE': return \`\${err.status} \${err.body}\`;
    case 'ERR_MESSAGE_TOO_LARGE': return String(err.limit + err.closeCode);
    case 'ERR_PROTOCOL': return String(err.closeCode);
    case 'ERR_CONNECTION_CLOSED': return \`\${err.closeCode} \${err.reason} \${err.wasClean}\`;
    case 'ERR_PONG_MISMATCH': return String(err.expected.length + err.received.length);
    // @ts-expect-error a misspelt code
    case 'ERR_CONECT': return '';
    default: return err.message;
  }
}
export function onlyItsOwnFields(err: HybiError): void {
  if (err.code === 'ERR_HANDSHAKE') {
    // @ts-expect-error a HandshakeError has no host
    void err.host;
  }
  if (err.code === 'ERR_PROTOCOL') {
    // @ts-expect-error a plain ProtocolError is not a MessageTooLargeError
    void err.limit;
  }
}
export function fromCatch(e: unknown): string {
  if (isHybiError(e) && e.code === 'ERR_INVALID_URL') return e.scheme;
  if (e instanceof InvalidArgumentError) {
    const code: 'ERR_INVALID_ARGUMENT' = e.code;
    return code;
  }
  return '';
}

export async function client(): Promise<void> {
  const ws = await connect('ws://127.0.0.1:1/');
  // 'message' arguments are correlated.
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      const bytes: Buffer = data;
      void bytes;
    } else {
      const text: string = data;
      void text;
    }
  });
  ws.on('message', (data) => void data);
  ws.once('message', (data: string | Buffer, isBinary: boolean) => void [data, isBinary]);
  ws.on('message', (...args: MessageListenerArgs) => void args);
  ws.on('close', (code, reason) => void (code.toFixed() + reason.trim()));
  // @ts-expect-error text is not a Buffer without the isBinary test
  ws.on('message', (data: Buffer) => void data);
  // @ts-expect-error close gives a number first
  ws.on('close', (code: string) => void code);

  // readyState: the states a connection can have, and the ws-style constants.
  const state: WebSocketReadyState = ws.readyState;
  if (ws.readyState === WebSocket.OPEN) void state;
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === 'closing') void state;
  // @ts-expect-error an open connection object is never connecting
  if (ws.readyState === 'connecting') void state;
  // @ts-expect-error nor with the constant
  if (ws.readyState === WebSocket.CONNECTING) void state;
  // @ts-expect-error the native class wraps a stream; a URL is connect()'s
  new WebSocket('ws://127.0.0.1:1/');
}

// Route parameters come from the pattern.
const server = new WebSocketServer();
server.route('/r/:room/u/:user', (ws, req, match) => {
  const room: string = match.params.room;
  const user: string = match.params.user;
  // @ts-expect-error no such parameter in the pattern
  void match.params.rooms;
  void [ws, req, room, user];
});
server.route('/chat', { protocols: ['chat'] }, { message: (msg, ws, req, match) => {
  // @ts-expect-error the pattern has no parameters
  void match.params.id;
  void [msg, ws, req];
} });
server.route(/^\\/g\\/(?<id>\\d+)$/, (ws, req, match) => void (match.params['id'] ?? ''));
const dynamic: string = '/x/:y';
server.route(dynamic, (ws, req, match) => void match.params['y']);

// Per-connection data, typed from the accept hook and the headers function.
interface Session { user: string; admin: boolean }
const withData = new WebSocketServer({
  accept: async (req): Promise<{ data: Session } | false> => (req.headers.cookie ? { data: { user: 'a', admin: false } } : false),
});
withData.route('/s/:id', (ws, req, match) => {
  const user: string = ws.data.user;
  const admin: boolean = ws.data.admin;
  // @ts-expect-error Session has no name
  void ws.data.name;
  void [req, match.params.id, user, admin];
});
withData.on('connection', (ws) => void ws.data.user);
const fromHeaders = new WebSocketServer({
  headers: (req) => ({ headers: { 'x-id': '1' }, data: { id: req.url ?? '' } }),
});
fromHeaders.route('/', (ws) => void ws.data.id.toUpperCase());
// Without hooks, data is whatever the user puts there.
new WebSocketServer().route('/', (ws) => {
  const unknownData: unknown = ws.data;
  void unknownData;
});
`;

/** Browser-style code, for a project with the DOM lib: the global event types name hybi's events. */
const browserDom = `
import { WebSocket } from 'hybi/browser';
import { connect } from 'hybi';
void connect;

const ws = new WebSocket('ws://127.0.0.1:1/chat', ['chat']);
ws.binaryType = 'arraybuffer';
ws.onopen = (e) => { void e.type; ws.send('hi'); };
ws.onmessage = (e) => { const d: unknown = e.data; void d; void e.origin; };
ws.onclose = (e) => { const n: number = e.code; void [n, e.reason, e.wasClean]; };
ws.onerror = (e: Event) => void e.type;
ws.addEventListener('close', (e: CloseEvent) => void e.code);
ws.addEventListener('message', (e: MessageEvent) => void e.data);
ws.addEventListener('message', (e) => void e.lastEventId);
ws.addEventListener('open', { handleEvent: (e: Event) => void e.type });
ws.addEventListener('error', (e) => void e.type, { once: true });
ws.removeEventListener('close', (e: CloseEvent) => void e);
// @ts-expect-error a MessageEvent has no code
ws.addEventListener('message', (e) => void e.code);
// @ts-expect-error onclose gets a CloseEvent, which has no data
ws.onclose = (e) => void e.data;
if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'bye');
// Functions written for the DOM's event types accept hybi's events.
function onDomClose(e: CloseEvent): number { return e.code; }
ws.addEventListener('close', onDomClose);
`;

/** Browser-style code, for a project without the DOM lib: the event classes come from hybi/browser. */
const browserNode = `
import { WebSocket, CloseEvent, ErrorEvent } from 'hybi/browser';

const ws = new WebSocket('ws://127.0.0.1:1/chat');
ws.onmessage = (e) => { const d: unknown = e.data; void d; };
ws.onclose = (e) => { const n: number = e.code; void [n, e.reason, e.wasClean]; };
ws.addEventListener('close', (e: CloseEvent) => void e.code);
ws.addEventListener('message', (e: MessageEvent) => void e.data);
// 'error' carries the typed hybi error (Node's WebSocket does the same).
ws.onerror = (e) => {
  const m: string = e.message;
  if (e.error.code === 'ERR_CONNECT') void e.error.host;
  if (e.error.code === 'ERR_HANDSHAKE') void e.error.status;
  void m;
};
ws.addEventListener('error', (e: ErrorEvent) => void e.error.code);
ws.addEventListener('error', (e: Event) => void e.type);
// @ts-expect-error a CloseEvent has no data
ws.onclose = (e) => void e.data;
// @ts-expect-error close codes are numbers
ws.addEventListener('close', (e: CloseEvent) => void e.code.toUpperCase());
new CloseEvent('close', { code: 1000, reason: '', wasClean: true, bubbles: false });
new ErrorEvent('error', { message: 'x', error: new Error('x') });
`;

interface Project {
  name: string;
  lib: string[];
  files: Record<string, string>;
}

function compile(dir: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Bounded: a tsc that hangs is killed and the test fails on its status.
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

function writeProject(base: string, project: Project): string {
  const dir = join(base, project.name);
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  // The package as its exports map publishes it (dist/), and the type packages of the repository.
  symlinkSync(root, join(dir, 'node_modules', 'hybi'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `types-${project.name}`, private: true, type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: project.lib,
        types: ['node'],
        strict: true,
        skipLibCheck: false,
        noEmit: true,
      },
      include: ['*.ts'],
    }),
  );
  for (const [name, text] of Object.entries(project.files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('the published types compile as a Node project and a DOM project use them', { timeout: 300_000 }, async () => {
  const base = mkdtempSync(join(tmpdir(), 'hybi-types-'));
  try {
    const projects: Project[] = [
      { name: 'node', lib: ['ES2022'], files: { 'native.ts': nativeApi, 'browser.ts': browserNode, 'plain.ts': "import { connect } from 'hybi';\nvoid connect;\n" } },
      { name: 'dom', lib: ['ES2022', 'DOM'], files: { 'native.ts': nativeApi, 'browser.ts': browserDom } },
    ];
    const results = await Promise.all(projects.map((p) => compile(writeProject(base, p))));
    results.forEach((result, i) => {
      assert.equal(result.output.trim(), '', `tsc in the '${projects[i]!.name}' project reported:\n${result.output}`);
      assert.equal(result.status, 0, `tsc in the '${projects[i]!.name}' project exited with ${result.status}`);
    });
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
