/**
 * The demo chat room's protocol, through `hybi serve --demo` and `ws` clients: who is here, what
 * is said, pings, statistics, and the bounds on what a member can send.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import WebSocket from 'ws';
import { cleanName, cleanText, HISTORY, MAX_NAME, MAX_TEXT } from '../../src/cli/chat-room.js';
import { Cli, killAll, serve } from './harness.js';

afterEach(killAll);

type Msg = Record<string, any>;

/** A member: a ws client that parses the room's JSON and can wait for a kind of message. */
class Member {
  readonly ws: WebSocket;
  readonly inbox: Msg[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => this.inbox.push(JSON.parse(String(data)) as Msg));
  }

  /** The first message of `type` (matching `test`) not yet taken; bounded wait. */
  async next(type: string, test: (m: Msg) => boolean = () => true, timeout = 5000): Promise<Msg> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const i = this.inbox.findIndex((m) => m['type'] === type && test(m));
      if (i !== -1) return this.inbox.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no '${type}' message; got ${JSON.stringify(this.inbox)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  say(obj: unknown): void {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }
}

const members: Member[] = [];
function join(origin: string, name?: string): Member {
  const m = new Member(`${origin}/chat${name === undefined ? '' : `?name=${encodeURIComponent(name)}`}`);
  members.push(m);
  return m;
}
afterEach(() => {
  for (const m of members.splice(0)) m.ws.terminate();
});

describe('the chat room protocol', () => {
  it('welcomes a member with who is here, tells the others, and relays what is said to everyone', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = join(origin, 'Ada');
    const welcome = await ada.next('welcome');
    assert.equal(welcome['you'].name, 'Ada');
    assert.deepEqual(welcome['users'].map((u: Msg) => u.name), ['Ada']);

    const linus = join(origin, 'Linus');
    const second = await linus.next('welcome');
    assert.deepEqual(second['users'].map((u: Msg) => u.name), ['Ada', 'Linus']);
    assert.equal((await ada.next('join'))['user'].name, 'Linus');

    ada.say({ type: 'say', text: '  hello, Linus  ' });
    for (const m of [ada, linus]) {
      const said = await m.next('say');
      assert.equal(said['text'], 'hello, Linus');
      assert.equal(said['from'].name, 'Ada');
      assert.equal(typeof said['at'], 'number');
    }

    linus.ws.close();
    assert.equal((await ada.next('leave'))['user'].name, 'Linus');
  });

  it('gives newcomers the recent history and guest names to the nameless', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = join(origin, 'Ada');
    await ada.next('welcome');
    for (let i = 0; i < HISTORY + 5; i++) ada.say({ type: 'say', text: `line ${i}` });
    await ada.next('say', (m) => m['text'] === `line ${HISTORY + 4}`);
    const late = join(origin);
    const welcome = await late.next('welcome');
    assert.match(welcome['you'].name, /^guest-\d+$/);
    assert.equal(welcome['history'].length, HISTORY);
    assert.equal(welcome['history'][0].text, 'line 5');
  });

  it('answers an application ping with the same clock value, and renames', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = join(origin, 'Ada');
    await ada.next('welcome');
    ada.say({ type: 'ping', t: 1234.5 });
    assert.deepEqual(await ada.next('pong'), { type: 'pong', t: 1234.5 });
    ada.say({ type: 'rename', name: 'Countess' });
    const renamed = await ada.next('rename');
    assert.equal(renamed['from'], 'Ada');
    assert.equal(renamed['user'].name, 'Countess');
  });

  it('sends statistics every second and the round trip of a real ping frame', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = join(origin, 'Ada');
    await ada.next('welcome');
    ada.say({ type: 'say', text: 'counted' });
    const stats = await ada.next('stats', (m) => m['chat'] >= 1, 3000);
    assert.equal(stats['users'], 1);
    assert.ok(stats['in'] >= 1 && stats['out'] >= 1);
    const rtt = await ada.next('rtt', () => true, 4000);
    assert.ok(typeof rtt['ms'] === 'number' && rtt['ms'] >= 0);
  });

  // Issue 18 changed this: text that is not JSON used to be ignored; it is now a chat line (see
  // the test below), so only JSON objects of no known type and binary messages are ignored.
  it('ignores what is not its protocol instead of closing on the sender', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = join(origin, 'Ada');
    await ada.next('welcome');
    ada.say({ type: 'nope' });
    ada.say({ type: 'say', text: 42 });
    ada.ws.send(Buffer.from([1, 2, 3]));
    ada.say({ type: 'say', text: 'still here' });
    assert.equal((await ada.next('say'))['text'], 'still here');
    assert.equal(ada.ws.readyState, WebSocket.OPEN);
  });

  it('takes a plain text line (not JSON) as a chat line, in order with the JSON ones', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = join(origin, 'Ada');
    await ada.next('welcome');
    ada.say('not json');
    ada.say('null');
    ada.say('[1, 2]');
    ada.say({ type: 'say', text: 'json' });
    const said = [await ada.next('say'), await ada.next('say'), await ada.next('say'), await ada.next('say')];
    assert.deepEqual(said.map((m) => m['text']), ['not json', 'null', '[1, 2]', 'json']);
    assert.equal(said[0]!['from'].name, 'Ada');
  });

  it('a line typed into hybi connect joins the conversation', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = join(origin, 'Ada');
    await ada.next('welcome');
    const terminal = new Cli(['connect', `${origin}/chat?name=terminal`]);
    await ada.next('join', (m) => m['user'].name === 'terminal');
    terminal.write('hello from the terminal\n');
    const said = await ada.next('say');
    assert.equal(said['text'], 'hello from the terminal');
    assert.equal(said['from'].name, 'terminal');
    // The terminal sees the room's answer too: its own line, as JSON.
    await terminal.waitForStdout('"text":"hello from the terminal"');
    terminal.end();
    assert.equal((await terminal.finish()).status, 0);
  });

  it('serves the page at / and the WebSocket at /chat only', async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const http = origin.replace('ws:', 'http:');
    const page = await fetch(`${http}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /script-src 'sha256-/);
    assert.match(await page.text(), /<meta name="hybi-ws-path" content="\/chat">/);
    assert.equal((await fetch(`${http}/nope`)).status, 404);
    const elsewhere = new WebSocket(`${origin}/other`);
    elsewhere.on('error', () => {});
    const [, res] = (await once(elsewhere, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(res.statusCode, 404);
  });
});

describe('who may join', () => {
  it('the demo\'s own page (same origin) and non-browser clients, not pages of other sites', async () => {
    const { origin, port } = await serve(['--demo', '--quiet']);
    const refusal = async (headers: Record<string, string>): Promise<number> => {
      const ws = new WebSocket(`${origin}/chat`, { headers });
      ws.on('error', () => {});
      const result = await Promise.race([
        once(ws, 'open').then(() => 101),
        once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
      ]);
      ws.terminate();
      return result;
    };
    assert.equal(await refusal({ Origin: `http://127.0.0.1:${port}` }), 101);
    assert.equal(await refusal({}), 101);
    assert.equal(await refusal({ Origin: 'http://evil.test' }), 403);
    assert.equal(await refusal({ Origin: `http://localhost:${port}` }), 403);
    assert.equal(await refusal({ Origin: 'null' }), 403);
  });

  it('a rebound name (DNS rebinding) gets neither the page nor the room; loopback names and --allow-host names do', async () => {
    const get = (port: number, host: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/', headers: { Host: host } }, (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => (body += d));
          r.on('end', () => resolve({ status: r.statusCode!, body }));
        })
          .on('error', reject)
          .end();
      });
    const status = async (url: string, host: string, pageOrigin: string): Promise<number> => {
      const ws = new WebSocket(url, { headers: { Host: host }, origin: pageOrigin });
      ws.on('error', () => {});
      const result = await Promise.race([
        once(ws, 'open').then(() => 101),
        once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
      ]);
      ws.terminate();
      return result;
    };
    const { cli, origin, port } = await serve(['--demo', '--quiet']);
    assert.match(cli.stderr, /chat demo at http:\/\/127\.0\.0\.1:\d+\/ .*; browser pages: its own only; Host: localhost, 127\.x\.x\.x, \[::1\] \(--allow-host to add one\)/);
    const rebound = await get(port, `rebind.example:${port}`);
    assert.equal(rebound.status, 403);
    assert.ok(!rebound.body.includes('<script'), 'no page for a rebound name');
    assert.equal(await status(`${origin}/chat`, `rebind.example:${port}`, `http://rebind.example:${port}`), 403);
    assert.equal((await get(port, `localhost:${port}`)).status, 200);
    assert.equal(await status(`${origin}/chat`, `localhost:${port}`, `http://localhost:${port}`), 101);
    // The Origin is checked against our names and the Host, never against the Host alone.
    assert.equal(await status(`${origin}/chat`, `localhost:${port}`, `http://rebind.example:${port}`), 403);

    const named = await serve(['--demo', '--quiet', '--allow-host', 'rebind.example']);
    assert.equal((await get(named.port, `rebind.example:${named.port}`)).status, 200);
    assert.equal(await status(`${named.origin}/chat`, `rebind.example:${named.port}`, `http://rebind.example:${named.port}`), 101);
  });

  it('--origin replaces that rule with an explicit list', async () => {
    const { origin } = await serve(['--demo', '--quiet', '--origin', 'http://chat.example']);
    const ws = new WebSocket(`${origin}/chat`, { origin: 'http://chat.example' });
    ws.on('error', () => {});
    await once(ws, 'open');
    ws.terminate();
  });
});

describe('what a member may send is bounded', () => {
  it('names lose control characters and extra spaces, and are cut to MAX_NAME characters', () => {
    assert.equal(cleanName('  Ada \t Lovelace \n'), 'Ada Lovelace');
    assert.equal(cleanName('a\x1b[31mb'), 'a[31mb');
    assert.equal(cleanName('x'.repeat(100)).length, MAX_NAME);
    assert.equal([...cleanName('👋'.repeat(100))].length, MAX_NAME);
    assert.equal(cleanName(42), '');
    assert.equal(cleanName('   '), '');
  });

  it('lines are trimmed and cut to MAX_TEXT characters, never splitting a character', () => {
    assert.equal(cleanText('  hi\nthere  '), 'hi\nthere');
    assert.equal(cleanText('y'.repeat(MAX_TEXT + 10)).length, MAX_TEXT);
    const emoji = cleanText('😀'.repeat(MAX_TEXT + 10));
    assert.equal([...emoji].length, MAX_TEXT);
    assert.ok(emoji.endsWith('😀'));
    assert.equal(cleanText({}), '');
  });
});
