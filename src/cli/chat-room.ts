/**
 * The chat room behind `hybi serve --demo`: every connection is a member, every line one member
 * says reaches all of them, and once a second everyone gets the room's statistics (who is here,
 * messages per second). The page (demo-page.ts) speaks JSON text messages:
 *
 *   page -> room   {type:'say', text}   {type:'rename', name}   {type:'ping', t}
 *   room -> page   {type:'welcome', you, users, history}   {type:'join'|'leave'|'rename', user}
 *                  {type:'say', from, text, at}   {type:'pong', t}   {type:'rtt', ms}
 *                  {type:'stats', users, chat, in, out}
 *
 * Browsers cannot send WebSocket pings, so the page measures its round trip with an application
 * {type:'ping'} that the room answers at once; the room also pings each page with real RFC 6455
 * ping frames (which browsers answer by themselves) and tells the page that round trip as 'rtt'.
 *
 * A text message that is not JSON (a line typed into `hybi connect`) is said as it is, so a terminal
 * joins the conversation without writing JSON by hand.
 *
 * Everything a member sends is bounded: names and lines are cut to a length, the history keeps
 * the last lines only, and JSON objects of no known type (and binary messages) are ignored.
 */
import type { Session } from './session.js';

/** How a member is shown: a number, a name and a colour. */
export interface Member {
  id: number;
  name: string;
  color: string;
}

interface Said {
  from: Member;
  text: string;
  at: number;
}

/** Longest name, in characters. */
export const MAX_NAME = 24;
/** Longest chat line, in characters: a paragraph, not a file. */
export const MAX_TEXT = 2000;
/** Lines a newcomer sees from before it arrived. */
export const HISTORY = 50;
/** Seconds between statistics; round trips by ping frame are measured every other tick. */
const TICK_MS = 1000;

const COLORS = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4d7c0f'];

/**
 * A display name from what a member typed: control characters dropped, runs of spaces collapsed,
 * cut to MAX_NAME characters (whole code points); empty means "use a guest name".
 */
export function cleanName(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  let out = '';
  let count = 0;
  let space = false;
  for (const ch of raw.slice(0, MAX_NAME * 4)) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) continue;
    if (ch === ' ' || ch === '\t') {
      space = out.length > 0;
      continue;
    }
    if (space) {
      if (count + 1 >= MAX_NAME) break;
      out += ' ';
      count++;
      space = false;
    }
    out += ch;
    if (++count >= MAX_NAME) break;
  }
  return out;
}

/** A chat line: trimmed, cut to MAX_TEXT characters; newlines are kept (the page shows them). */
export function cleanText(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  const text = raw.trim();
  return [...text.slice(0, MAX_TEXT * 2)].slice(0, MAX_TEXT).join('');
}

/** The chat room; one per demo server. */
export class ChatRoom {
  private readonly members = new Map<Session, Member>();
  private readonly pinging = new Set<Session>();
  private readonly history: Said[] = [];
  private guests = 0;
  private ticker: NodeJS.Timeout | undefined;
  private ticks = 0;
  // Counts for the second in progress, sent and reset by the ticker.
  private chatThisSecond = 0;
  private inThisSecond = 0;
  private outThisSecond = 0;

  /** Members present, for tests and logs. */
  get size(): number {
    return this.members.size;
  }

  /** Adds a connection to the room. `query` is the WebSocket URL's query (the page passes `name`). */
  join(session: Session, query: URLSearchParams): void {
    const member: Member = {
      id: session.id,
      name: cleanName(query.get('name')) || `guest-${++this.guests}`,
      color: COLORS[session.id % COLORS.length]!,
    };
    const users = [...this.members.values(), member];
    this.members.set(session, member);
    this.sendTo(session, { type: 'welcome', you: member, users, history: this.history });
    this.broadcast({ type: 'join', user: member }, session);
    session.onMessage((m) => {
      this.inThisSecond++;
      this.receive(session, member, m.text);
    });
    void session.ended.then(() => {
      this.members.delete(session);
      this.pinging.delete(session);
      this.broadcast({ type: 'leave', user: member });
      if (this.members.size === 0) this.stopTicker();
    });
    this.startTicker();
  }

  /** Stops the statistics timer; the server closes the connections themselves. */
  close(): void {
    this.stopTicker();
  }

  private receive(session: Session, member: Member, text: string | undefined): void {
    // Binary messages are not part of the protocol: ignore them rather than end the
    // conversation of someone poking at the demo with `hybi connect`.
    if (text === undefined) return;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      msg = undefined;
    }
    // Plain text (and a bare JSON string or number, which no page sends) is a chat line.
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.say(member, text);
      return;
    }
    const m = msg as Record<string, unknown>;
    switch (m['type']) {
      case 'say':
        this.say(member, m['text']);
        return;
      case 'rename': {
        const name = cleanName(m['name']);
        if (!name || name === member.name) return;
        const from = member.name;
        member.name = name;
        this.broadcast({ type: 'rename', user: member, from });
        return;
      }
      case 'ping':
        // Echo only a number: the page's own clock value, which it subtracts from its clock now.
        if (typeof m['t'] === 'number') this.sendTo(session, { type: 'pong', t: m['t'] });
        return;
      default:
        return;
    }
  }

  private say(member: Member, raw: unknown): void {
    const line = cleanText(raw);
    if (!line) return;
    this.chatThisSecond++;
    const said: Said = { from: member, text: line, at: Date.now() };
    this.history.push(said);
    if (this.history.length > HISTORY) this.history.shift();
    this.broadcast({ type: 'say', ...said });
  }

  private sendTo(session: Session, msg: object): void {
    this.outThisSecond++;
    session.sendOrShed(JSON.stringify(msg));
  }

  private broadcast(msg: object, except?: Session): void {
    const text = JSON.stringify(msg);
    for (const session of this.members.keys()) {
      if (session === except) continue;
      this.outThisSecond++;
      session.sendOrShed(text);
    }
  }

  private startTicker(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => this.tick(), TICK_MS);
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private tick(): void {
    const stats = { type: 'stats', users: this.members.size, chat: this.chatThisSecond, in: this.inThisSecond, out: this.outThisSecond };
    this.chatThisSecond = 0;
    this.inThisSecond = 0;
    this.outThisSecond = 0;
    this.broadcast(stats);
    if (this.ticks++ % 2 === 0) this.measureRoundTrips();
  }

  /** A ping frame to every member that has none outstanding; each learns its own round trip. */
  private measureRoundTrips(): void {
    for (const session of this.members.keys()) {
      if (this.pinging.has(session) || session.ws.readyState !== 'open') continue;
      this.pinging.add(session);
      session.ws.ping(undefined, { timeout: 5000 }).then(
        (ms: number) => {
          this.pinging.delete(session);
          if (this.members.has(session)) this.sendTo(session, { type: 'rtt', ms });
        },
        () => this.pinging.delete(session),
      );
    }
  }
}
