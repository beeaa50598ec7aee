/**
 * The page of `hybi serve --demo`: a chat room in one self-contained HTML document (inline CSS and
 * script, no external assets, no build step), served by the same process as the WebSocket
 * endpoint. It shows who is connected, the live message rate and two round trips: an application
 * ping (browsers cannot send ping frames) and the server's RFC 6455 ping frames.
 *
 * The script and style are fixed strings, so their hashes go into a Content-Security-Policy that
 * allows nothing else: even if a chat line slipped into the markup it could not run. The script
 * only ever puts peer text into the page through textContent.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root {
  --bg: #f4f5f8; --panel: #ffffff; --ink: #1c2330; --muted: #6b7385; --line: #e3e6ee;
  --accent: #4f46e5; --mine: #4f46e5; --bubble: #f0f2f7; --ok: #16a34a; --warn: #d97706; --bad: #dc2626;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f1218; --panel: #171b23; --ink: #e6e9ef; --muted: #8b93a5; --line: #262c38; --bubble: #202633; --accent: #818cf8; --mine: #6366f1; }
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body {
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  background: var(--bg); color: var(--ink); display: flex; flex-direction: column;
}
header {
  display: flex; align-items: center; gap: 14px; padding: 12px 20px;
  background: var(--panel); border-bottom: 1px solid var(--line);
}
.logo { display: flex; align-items: center; gap: 10px; font-weight: 700; font-size: 17px; letter-spacing: -0.01em; }
.logo .mark {
  width: 30px; height: 30px; border-radius: 8px; display: grid; place-items: center;
  background: linear-gradient(135deg, #6366f1, #06b6d4); color: #fff; font-size: 15px;
}
.logo small { font-weight: 500; color: var(--muted); font-size: 14px; }
.spacer { flex: 1; }
.status { display: inline-flex; align-items: center; gap: 7px; font-size: 13px; color: var(--muted); }
.status .dot { width: 9px; height: 9px; border-radius: 50%; background: var(--warn); box-shadow: 0 0 0 3px color-mix(in srgb, var(--warn) 20%, transparent); }
.status.connected .dot { background: var(--ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--ok) 20%, transparent); }
.status.disconnected .dot { background: var(--bad); box-shadow: 0 0 0 3px color-mix(in srgb, var(--bad) 20%, transparent); }
.you { display: flex; align-items: center; gap: 8px; font-size: 13px; color: var(--muted); }
.you input {
  width: 150px; padding: 6px 10px; border: 1px solid var(--line); border-radius: 8px;
  background: var(--bg); color: var(--ink); font: inherit; font-size: 14px;
}
main { flex: 1; display: grid; grid-template-columns: 1fr 280px; min-height: 0; }
.chat { display: flex; flex-direction: column; min-height: 0; border-right: 1px solid var(--line); }
#messages { flex: 1; overflow-y: auto; list-style: none; margin: 0; padding: 20px 22px; display: flex; flex-direction: column; gap: 10px; }
.msg { display: flex; gap: 10px; align-items: flex-end; max-width: 78%; }
.msg.mine { align-self: flex-end; flex-direction: row-reverse; }
.avatar {
  flex: none; width: 30px; height: 30px; border-radius: 50%; display: grid; place-items: center;
  color: #fff; font-weight: 600; font-size: 13px; background: var(--c, var(--accent));
}
.bubble { background: var(--bubble); padding: 8px 12px; border-radius: 14px 14px 14px 4px; min-width: 0; }
.mine .bubble { background: var(--mine); color: #fff; border-radius: 14px 14px 4px 14px; }
.meta { display: flex; gap: 8px; align-items: baseline; font-size: 12px; margin-bottom: 2px; }
.meta .name { font-weight: 600; color: var(--c, var(--accent)); }
.mine .meta .name { color: #e0e7ff; }
.meta time { color: var(--muted); }
.mine .meta time { color: #c7d2fe; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.notice { align-self: center; font-size: 12px; color: var(--muted); background: var(--panel); border: 1px solid var(--line); border-radius: 999px; padding: 3px 12px; }
.empty { margin: auto; color: var(--muted); text-align: center; font-size: 14px; }
form { display: flex; gap: 10px; padding: 14px 18px; background: var(--panel); border-top: 1px solid var(--line); }
#input {
  flex: 1; padding: 11px 14px; border: 1px solid var(--line); border-radius: 10px; font: inherit;
  background: var(--bg); color: var(--ink); outline: none;
}
#input:focus, .you input:focus { border-color: var(--accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--accent) 18%, transparent); outline: none; }
button {
  padding: 0 20px; border: 0; border-radius: 10px; background: var(--mine); color: #fff;
  font: inherit; font-weight: 600; cursor: pointer;
}
button:disabled { opacity: 0.5; cursor: default; }
aside { background: var(--panel); padding: 18px; overflow-y: auto; display: flex; flex-direction: column; gap: 22px; }
aside h2 { margin: 0 0 10px; font-size: 11px; font-weight: 700; letter-spacing: 0.08em; text-transform: uppercase; color: var(--muted); }
#users { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 8px; }
#users li { display: flex; align-items: center; gap: 10px; font-size: 14px; }
#users .avatar { width: 26px; height: 26px; font-size: 12px; }
#users .tag { font-size: 11px; color: var(--muted); }
.metric { display: flex; align-items: baseline; gap: 6px; }
.metric .value { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; letter-spacing: -0.02em; }
.metric .unit { color: var(--muted); font-size: 13px; }
.sub { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
svg.spark { display: block; width: 100%; height: 44px; margin-top: 6px; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
svg.spark polygon { fill: color-mix(in srgb, var(--accent) 14%, transparent); stroke: none; }
svg.spark line { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
.rtt { display: grid; grid-template-columns: 1fr auto; row-gap: 4px; font-size: 13px; }
.rtt span:nth-child(even) { font-weight: 600; font-variant-numeric: tabular-nums; text-align: right; }
.about { font-size: 12px; color: var(--muted); line-height: 1.5; margin-top: auto; }
.about code { font-size: 11.5px; background: var(--bubble); padding: 1px 5px; border-radius: 4px; }
/* A phone or a narrow window: the side panel becomes a compact strip above the conversation, who
   is online on the left, the rate and round trips on the right, so that none of them is lost. */
@media (max-width: 720px) {
  main { grid-template-columns: 1fr; grid-template-rows: auto minmax(0, 1fr); }
  .chat { border-right: 0; }
  aside {
    order: -1; display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 8px 14px;
    padding: 10px 14px; max-height: 40vh; border-bottom: 1px solid var(--line);
  }
  aside > section { min-width: 0; }
  aside > section:first-child { grid-row: span 2; overflow-y: auto; }
  aside h2 { margin-bottom: 4px; }
  .metric .value { font-size: 20px; }
  svg.spark { height: 22px; margin-top: 2px; }
  .rtt { font-size: 12px; }
  .about { display: none; }
  #messages { padding: 14px; }
  .msg { max-width: 92%; }
  form { padding: 10px 12px; }
  header { gap: 10px; padding: 10px 14px; } .logo small, .you .label { display: none; } .you input { width: 110px; }
}
`;

const SCRIPT = `
(function () {
  'use strict';
  var byId = function (id) { return document.getElementById(id); };
  var wsPath = document.querySelector('meta[name="hybi-ws-path"]').getAttribute('content');
  var params = new URLSearchParams(location.search);
  var name = params.get('name') || sessionStorage.getItem('hybi-name') || '';
  var ws = null, me = null, users = new Map(), attempt = 0, pingTimer = 0;
  var series = [], seriesMax = 30, rate = [];
  var list = byId('messages'), input = byId('input'), nameBox = byId('name');
  nameBox.value = name;
  var tryUrl = new URL(wsPath, location.href);
  tryUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // npx finds the command in a checkout of hybi (after npm start built it) or wherever it is installed.
  byId('try').textContent = 'npx hybi connect ' + tryUrl.href;

  function setStatus(kind, text) {
    var el = byId('status');
    el.className = 'status ' + kind;
    byId('status-text').textContent = text;
    byId('send').disabled = kind !== 'connected';
  }

  function initial(n) { return (Array.from(n)[0] || '?').toUpperCase(); }
  function avatar(user) {
    var a = document.createElement('div');
    a.className = 'avatar';
    a.style.setProperty('--c', user.color);
    a.textContent = initial(user.name);
    return a;
  }
  function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
  function append(el) {
    var stick = nearBottom();
    var empty = list.querySelector('.empty');
    if (empty) empty.remove();
    list.appendChild(el);
    while (list.children.length > 500) list.firstChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }
  function notice(text) {
    var li = document.createElement('li');
    li.className = 'notice';
    li.textContent = text;
    append(li);
  }
  function said(m) {
    var li = document.createElement('li');
    li.className = 'msg' + (me && m.from.id === me.id ? ' mine' : '');
    li.style.setProperty('--c', m.from.color);
    var bubble = document.createElement('div');
    bubble.className = 'bubble';
    var meta = document.createElement('div');
    meta.className = 'meta';
    var who = document.createElement('span');
    who.className = 'name';
    who.textContent = me && m.from.id === me.id ? 'you' : m.from.name;
    var when = document.createElement('time');
    var d = new Date(m.at);
    when.dateTime = d.toISOString();
    when.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    meta.append(who, when);
    var text = document.createElement('div');
    text.className = 'text';
    text.textContent = m.text;
    bubble.append(meta, text);
    li.append(avatar(m.from), bubble);
    append(li);
  }
  function renderUsers() {
    var ul = byId('users');
    ul.replaceChildren();
    users.forEach(function (u) {
      var li = document.createElement('li');
      var label = document.createElement('span');
      label.textContent = u.name;
      li.append(avatar(u), label);
      if (me && u.id === me.id) {
        var tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = '(you)';
        li.append(tag);
      }
      ul.append(li);
    });
    byId('user-count').textContent = String(users.size);
  }
  function renderRate(stats) {
    series.push(stats.chat);
    if (series.length > seriesMax) series.shift();
    rate.push(stats.chat);
    if (rate.length > 5) rate.shift();
    var avg = rate.reduce(function (a, b) { return a + b; }, 0) / rate.length;
    byId('rate').textContent = avg.toFixed(1);
    byId('frames').textContent = stats.in + ' in / ' + stats.out + ' out per second';
    var max = Math.max(2, Math.max.apply(null, series));
    var w = 100, h = 40, step = w / (seriesMax - 1), start = w - step * (series.length - 1);
    // Right-aligned over a baseline: the chart fills in from the right as seconds pass.
    var pts = series.length < 2 ? [] : series.map(function (v, i) { return (start + i * step).toFixed(1) + ',' + (h - 1 - (v / max) * (h - 5)).toFixed(1); });
    byId('spark-line').setAttribute('points', pts.join(' '));
    byId('spark-area').setAttribute('points', pts.length ? start.toFixed(1) + ',' + (h - 1) + ' ' + pts.join(' ') + ' ' + w + ',' + (h - 1) : '');
  }
  function ms(v) { return v < 10 ? v.toFixed(2) + ' ms' : v.toFixed(1) + ' ms'; }

  function handle(m) {
    switch (m.type) {
      case 'welcome':
        me = m.you;
        users = new Map(m.users.map(function (u) { return [u.id, u]; }));
        if (!name) { nameBox.value = me.name; }
        renderUsers();
        if (m.history.length) { list.replaceChildren(); m.history.forEach(said); notice('you joined as ' + me.name); }
        else notice('you joined as ' + me.name);
        break;
      case 'join': users.set(m.user.id, m.user); renderUsers(); notice(m.user.name + ' joined'); break;
      case 'leave': users.delete(m.user.id); renderUsers(); notice(m.user.name + ' left'); break;
      case 'rename':
        users.set(m.user.id, m.user);
        if (me && m.user.id === me.id) me = m.user;
        renderUsers();
        notice(m.from + ' is now ' + m.user.name);
        break;
      case 'say': said(m); break;
      case 'pong': byId('rtt-app').textContent = ms(performance.now() - m.t); break;
      case 'rtt': byId('rtt-frame').textContent = ms(m.ms); break;
      case 'stats': renderRate(m); break;
    }
  }

  function sendPing() {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ping', t: performance.now() }));
  }

  function connect() {
    var url = new URL(wsPath, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (name) url.searchParams.set('name', name);
    setStatus('connecting', 'connecting\\u2026');
    ws = new WebSocket(url);
    ws.onopen = function () {
      attempt = 0;
      setStatus('connected', 'connected');
      sendPing();
      pingTimer = setInterval(sendPing, 2000);
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m && typeof m.type === 'string') handle(m);
    };
    ws.onclose = function (ev) {
      clearInterval(pingTimer);
      users.clear();
      renderUsers();
      var delay = Math.min(10000, 500 * Math.pow(2, attempt++));
      setStatus('disconnected', 'disconnected (' + ev.code + '), retrying in ' + Math.round(delay / 1000) + 's');
      setTimeout(connect, delay);
    };
  }

  byId('composer').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: 'say', text: text }));
    input.value = '';
    input.focus();
  });
  function rename() {
    var n = nameBox.value.trim();
    if (!n || (me && n === me.name)) return;
    name = n;
    sessionStorage.setItem('hybi-name', n);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'rename', name: n }));
  }
  nameBox.addEventListener('change', rename);
  nameBox.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { ev.preventDefault(); rename(); input.focus(); } });
  connect();
  input.focus();
})();
`;

const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%234f46e5'/%3E%3Cpath d='M9 10v12M23 10v12M9 16h14' stroke='white' stroke-width='3' stroke-linecap='round'/%3E%3C/svg%3E";

function escapeAttribute(text: string): string {
  let out = '';
  for (const ch of text) {
    if (ch === '&') out += '&amp;';
    else if (ch === '"') out += '&quot;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else out += ch;
  }
  return out;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The Content-Security-Policy of the page: its own script and style, WebSocket to its own origin. */
export const DEMO_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

/** The page, with `wsPath` (the WebSocket endpoint, e.g. '/chat') written into a meta tag. */
export function renderDemoPage(wsPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="hybi-ws-path" content="${escapeAttribute(wsPath)}">
<title>hybi chat</title>
<link rel="icon" href="${FAVICON}">
<style>${STYLE}</style>
</head>
<body>
<header>
  <div class="logo"><span class="mark">h</span>hybi <small>chat room</small></div>
  <span id="status" class="status"><span class="dot"></span><span id="status-text">connecting…</span></span>
  <div class="spacer"></div>
  <label class="you"><span class="label">Your name</span> <input id="name" maxlength="24" autocomplete="off" spellcheck="false"></label>
</header>
<main>
  <section class="chat">
    <ul id="messages" aria-live="polite"><li class="empty">No messages yet. Open this page in another tab and say hello.</li></ul>
    <form id="composer" autocomplete="off">
      <input id="input" maxlength="2000" placeholder="Type a message and press Enter" aria-label="Message">
      <button id="send" type="submit" disabled>Send</button>
    </form>
  </section>
  <aside>
    <section>
      <h2>Online · <span id="user-count">0</span></h2>
      <ul id="users"></ul>
    </section>
    <section>
      <h2>Message rate</h2>
      <div class="metric"><span id="rate" class="value">0.0</span><span class="unit">chat msg/s</span></div>
      <svg class="spark" viewBox="0 0 100 40" preserveAspectRatio="none" aria-hidden="true"><line x1="0" y1="39.5" x2="100" y2="39.5"></line><polygon id="spark-area" points=""></polygon><polyline id="spark-line" points=""></polyline></svg>
      <div id="frames" class="sub">–</div>
    </section>
    <section>
      <h2>Round trip</h2>
      <div class="rtt">
        <span>app ping (JSON)</span><span id="rtt-app">–</span>
        <span>ping frame (RFC 6455)</span><span id="rtt-frame">–</span>
      </div>
    </section>
    <p class="about">Served by <code>hybi serve --demo</code>: this page and the WebSocket endpoint <code>${escapeAttribute(wsPath)}</code> share one Node.js process. Join from a terminal too: run <code id="try">npx hybi connect</code> in the hybi checkout (or anywhere hybi is installed) and type a line.</p>
  </aside>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
