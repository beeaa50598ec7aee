/**
 * hybi/redis: a Broker on Redis (issue 20), for servers in several processes and on several
 * machines. Redis does the work, not a re-implementation of it:
 * - each publish runs one Lua script, atomically: the topic's next offset (HINCRBY), its epoch
 *   (made on first use: a Redis that lost its data starts a new epoch), the message appended to
 *   the topic's Stream (XADD with an exact MAXLEN: the bounded history), an idempotency key (a
 *   retried publish id is stored once), and the live message sent with SPUBLISH (sharded pub/sub,
 *   Redis 7.0 and later), so every node sees the same offsets in the same order;
 * - each node subscribes (SSUBSCRIBE) to the topics its clients want, delivers each topic in
 *   offset order, skips what it already delivered, and fills gaps from the Stream: after a lost
 *   pub/sub link (it resubscribes on reconnect and reads what it missed) or when a live message
 *   arrives ahead of one it has not seen.
 *
 * The official `redis` client is an optional peer dependency of this entry point only: `hybi`
 * itself has no runtime dependencies.
 */
import { randomBytes } from 'node:crypto';
import { createClient, RESP_TYPES, type RedisClientOptions } from 'redis';
import { BrokerError } from '../api/errors.js';
import { InvalidArgumentError } from '../core/errors.js';
import { newEpoch, type Broker, type BrokerSink, type HistoryResult, type TopicMessage, type TopicPosition } from '../api/topics/index.js';
import { WheelTimer } from '../node/timer-wheel.js';
import { CountRenewal } from './count-renewal.js';

/** Options of `redisBroker()`. */
export interface RedisBrokerOptions {
  /** The Redis server, e.g. 'redis://127.0.0.1:6379'; default the client's (localhost:6379). */
  url?: string;
  /** More options for the two clients this broker creates (commands and pub/sub). */
  client?: Omit<RedisClientOptions, 'url' | 'RESP'>;
  /** Prefix of every key and channel; default 'hybi'. Servers that share topics use the same. */
  prefix?: string;
  /** Messages kept per topic in its Stream for history and gap filling; default 1,000. */
  historySize?: number;
  /** Seconds an idempotency key is remembered; default 600 (a retry comes within minutes). */
  idempotencyTtl?: number;
  /**
   * Milliseconds a publish or history read waits for Redis before it fails with a BrokerError
   * ('timeout'); default 5,000. A timed-out publish may still be applied once Redis answers:
   * retry it with the same `id` to have it stored once.
   */
  timeout?: number;
  /**
   * Publishes waiting for Redis at once (while the link is down they wait in the client's queue);
   * beyond this, publish() fails at once with a BrokerError ('overloaded'); default 1,000.
   */
  maxPendingPublishes?: number;
  /**
   * Milliseconds a node's subscriber counts stay valid in Redis without being renewed; default
   * 30,000. Each node rewrites its counts every third of it, so a node that died without closing
   * (a crash, a lost machine) stops being counted by `totalSubscriberCount()` within this time.
   * Shorter: fresher after crashes, more writes (one per topic per renewal per node).
   */
  countTtl?: number;
}

// KEYS: meta hash, stream, idempotency key. ARGV: epoch if new, payload, flag ('t' text, 'b'
// binary), conflation key, publish id, history size, idempotency ttl, channel.
// Returns { epoch, offset }. The live message is `epoch \n offset \n flag \n #key \n key #id \n id payload`.
const PUBLISH_SCRIPT = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
local seen = redis.call('GET', KEYS[3])
if seen then return {epoch, tonumber(seen)} end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[6], offset .. '-1', 'd', ARGV[2], 'f', ARGV[3], 'k', ARGV[4], 'i', ARGV[5])
redis.call('SET', KEYS[3], offset, 'EX', ARGV[7])
redis.call('SPUBLISH', ARGV[8], epoch .. '\\n' .. offset .. '\\n' .. ARGV[3] .. '\\n' .. #ARGV[4] .. '\\n' .. ARGV[4] .. #ARGV[5] .. '\\n' .. ARGV[5] .. ARGV[2])
return {epoch, offset}
`;

// Subscriber counts across nodes (totalSubscriberCount): one hash per topic, a field per node
// holding "<count> <expiry in ms since the epoch, Redis's clock>". A node writes its field when
// its count changes and renews it every countTtl / 3; a reader sums the fields not expired and
// deletes the expired ones (a node that died without closing). Redis's own clock (TIME), so that
// clocks of different machines do not matter. PUBSUB SHARDNUMSUB cannot serve: it counts Redis
// subscriptions, one per node, not the connections behind them.
// KEYS: counts hash. ARGV: node, count, ttl in ms.
const COUNT_SET_SCRIPT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (ms + tonumber(ARGV[3])))
  redis.call('PEXPIRE', KEYS[1], ARGV[3], 'GT')
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
`;
// KEYS: counts hash. Returns the sum of the fields not expired.
const COUNT_SCRIPT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  local count, expiry = string.match(fields[i + 1], '^(%d+) (%d+)$')
  if count and tonumber(expiry) > ms then total = total + tonumber(count)
  else redis.call('HDEL', KEYS[1], fields[i]) end
end
return total
`;

type Client = ReturnType<typeof createClient>;

/** What this node delivered of a topic last. */
interface TopicState {
  epoch: string | null;
  offset: number;
  /** Messages of the topic are handled one after another, gap fills included. */
  chain: Promise<void>;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/**
 * A broker on Redis 7 or later (sharded pub/sub). Give one to each server:
 * `new WebSocketServer({ broker: redisBroker({ url: 'redis://10.0.0.5:6379' }) })`. See
 * docs/topics.md for what is guaranteed when the link to Redis fails.
 */
export function redisBroker(options: RedisBrokerOptions = {}): Broker {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('redisBroker() options must be an object');
  const prefix = options.prefix ?? 'hybi';
  if (typeof prefix !== 'string' || prefix.length === 0 || /[{}]/.test(prefix)) throw new InvalidArgumentError('prefix must be a non-empty string without braces');
  return new RedisBroker(options, prefix);
}

class RedisBroker implements Broker {
  readonly #options: RedisBrokerOptions;
  readonly #prefix: string;
  readonly #historySize: number;
  readonly #ttl: number;
  readonly #timeout: number;
  readonly #maxPending: number;
  #commands: Client | null = null;
  #subscriber: Client | null = null;
  #sink: BrokerSink | null = null;
  /** Script text -> its SHA1 once loaded. */
  readonly #shas = new Map<string, string>();
  readonly #countTtl: number;
  /** This node's name in the counts hashes. */
  readonly #node = randomBytes(9).toString('base64url');
  /** Topics whose count changed since it was last written. */
  readonly #countsChanged = new Set<string>();
  #countsQueued = false;
  #renewal: CountRenewal | null = null;
  #pending = 0;
  #closed = false;
  /** Whether the pub/sub link was ready once: later 'ready' events are reconnections. */
  #subscribedOnce = false;
  readonly #topics = new Map<string, TopicState>();

  constructor(options: RedisBrokerOptions, prefix: string) {
    this.#options = options;
    this.#prefix = prefix;
    this.#historySize = positive('historySize', options.historySize, 1000);
    this.#ttl = positive('idempotencyTtl', options.idempotencyTtl, 600);
    this.#timeout = positive('timeout', options.timeout, 5000);
    this.#maxPending = positive('maxPendingPublishes', options.maxPendingPublishes, 1000);
    this.#countTtl = positive('countTtl', options.countTtl, 30_000);
  }

  // One hash tag per topic: its keys and channel live on one shard of a Redis Cluster.
  #key(topic: string, part: string): string {
    return `${this.#prefix}:{${topic}}:${part}`;
  }

  #channel(topic: string): string {
    return `${this.#prefix}:{${topic}}`;
  }

  async open(sink: BrokerSink): Promise<void> {
    if (this.#sink !== null) throw new InvalidArgumentError('a redis broker serves one server; make one per server');
    this.#sink = sink;
    const clientOptions = { ...this.#options.client, url: this.#options.url, RESP: 2 as const };
    const commands = createClient(clientOptions).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    const subscriber = createClient(clientOptions);
    this.#commands = commands as unknown as Client;
    this.#subscriber = subscriber;
    // The clients reconnect by themselves; their errors are reported, never thrown at nobody.
    commands.on('error', (error: Error) => this.#report(error));
    // Counts changed while the link was down, or lost with Redis's data, are written again.
    commands.on('ready', () => this.#writeCounts(true));
    subscriber.on('error', (error: Error) => this.#report(error));
    subscriber.on('ready', () => {
      // The client resubscribes after a reconnection; what was published meanwhile is read
      // from each topic's Stream.
      if (this.#subscribedOnce) for (const topic of this.#topics.keys()) this.#catchUp(topic);
      this.#subscribedOnce = true;
    });
    await Promise.all([commands.connect(), subscriber.connect()]);
    this.#renewal = new CountRenewal(this.#countTtl, () => this.#writeCounts(true));
    this.#renewal.start();
  }

  subscribersChanged(topic: string): void {
    this.#countsChanged.add(topic);
    if (this.#countsQueued) return;
    // The changes of one turn of the event loop (a burst of connections) are written together.
    this.#countsQueued = true;
    queueMicrotask(() => {
      this.#countsQueued = false;
      this.#writeCounts(false);
    });
  }

  /** Writes the changed counts (all: and every subscribed topic's, to renew them). */
  #writeCounts(all: boolean): void {
    const commands = this.#commands;
    const sink = this.#sink;
    // Not connected: nothing queues in the client; the 'ready' of the reconnection writes all.
    if (this.#closed || commands === null || sink === null || !commands.isReady) return;
    const topics = all ? new Set([...this.#countsChanged, ...this.#topics.keys()]) : new Set(this.#countsChanged);
    this.#countsChanged.clear();
    for (const topic of topics) {
      // A failed write is repaired by the next renewal, or expires: nobody waits for it.
      this.#script(COUNT_SET_SCRIPT, [this.#key(topic, 'counts')], [this.#node, String(sink.count(topic)), String(this.#countTtl)]).catch(() => {});
    }
  }

  async subscriberCount(topic: string): Promise<number> {
    if (this.#closed || this.#commands === null) throw new BrokerError('closed', 'the redis broker is closed');
    // This node's own changes go first on the connection, so the answer includes them.
    this.#writeCounts(false);
    return Number(await this.#bounded('a count', this.#script(COUNT_SCRIPT, [this.#key(topic, 'counts')], [])));
  }

  #report(error: Error): void {
    if (!this.#closed) this.#sink?.error(new BrokerError('failed', `redis: ${error.message}`, error));
  }

  async subscribe(topic: string): Promise<void> {
    if (this.#topics.has(topic)) return;
    const state: TopicState = { epoch: null, offset: 0, chain: Promise.resolve() };
    this.#topics.set(topic, state);
    // Where the topic stands, read before subscribing: live messages follow from there, and one
    // published between the read and the subscription is found as a gap and read from the Stream.
    state.chain = this.#meta(topic)
      .then((meta) => {
        if (meta !== null && state.epoch === null) {
          state.epoch = meta.epoch;
          state.offset = meta.offset;
        }
      })
      .catch((error: unknown) => this.#report(error as Error));
    await this.#subscriber!.sSubscribe(this.#channel(topic), (message: Buffer) => this.#live(topic, message), true);
  }

  async unsubscribe(topic: string): Promise<void> {
    if (!this.#topics.delete(topic)) return;
    await this.#subscriber?.sUnsubscribe(this.#channel(topic));
  }

  /** Decodes a live message (see PUBLISH_SCRIPT) and hands it to the topic's chain. */
  #live(topic: string, raw: Buffer): void {
    const state = this.#topics.get(topic);
    if (state === undefined) return;
    let at = 0;
    const field = (): string => {
      const end = raw.indexOf(10, at);
      const value = raw.toString('utf8', at, end);
      at = end + 1;
      return value;
    };
    const epoch = field();
    const offset = Number(field());
    const flag = field();
    const keyLength = Number(field());
    const key = keyLength === 0 ? undefined : raw.toString('utf8', at, (at += keyLength));
    const idLength = Number(field());
    const id = raw.toString('utf8', at, (at += idLength));
    const message: TopicMessage = { topic, epoch, offset, isText: flag === 't', key, id, data: new Uint8Array(raw.buffer, raw.byteOffset + at, raw.length - at) };
    state.chain = state.chain.then(() => this.#inOrder(state, message)).catch((error: unknown) => this.#report(error as Error));
  }

  /** Delivers `message` after any message of its topic this node has not delivered yet. */
  async #inOrder(state: TopicState, message: TopicMessage): Promise<void> {
    if (state.epoch === message.epoch) {
      if (message.offset <= state.offset) return; // delivered already (a gap fill got it first)
      if (message.offset > state.offset + 1) await this.#fill(state, message.topic, message.offset - 1);
    }
    // A new epoch: Redis lost the history; nothing before this message can be recovered.
    this.#deliver(state, message);
  }

  #deliver(state: TopicState, message: TopicMessage): void {
    if (!this.#topics.has(message.topic)) return;
    state.epoch = message.epoch;
    state.offset = message.offset;
    this.#sink?.deliver(message);
  }

  /** Delivers, from the Stream, what came after the state's offset up to `upTo` (or all). */
  async #fill(state: TopicState, topic: string, upTo: number | '+'): Promise<void> {
    for (const message of await this.#range(topic, state.epoch!, state.offset + 1, upTo)) this.#deliver(state, message);
  }

  /** After a reconnection: what was published while the link was down, from the Stream. */
  #catchUp(topic: string): void {
    const state = this.#topics.get(topic)!;
    state.chain = state.chain
      .then(async () => {
        const meta = await this.#meta(topic);
        if (meta === null) return; // nothing published since Redis lost its data
        if (state.epoch !== meta.epoch) {
          // The history this node followed is gone (Redis restarted empty): follow the new one
          // from its start, as far as the Stream holds it.
          state.epoch = meta.epoch;
          state.offset = 0;
        }
        await this.#fill(state, topic, '+');
      })
      .catch((error: unknown) => this.#report(error as Error));
  }

  async #meta(topic: string): Promise<TopicPosition | null> {
    const reply = (await this.#commands!.sendCommand(['HMGET', this.#key(topic, 'meta'), 'epoch', 'offset'])) as (Buffer | null)[];
    if (reply[0] === null || reply[0] === undefined) return null;
    return { epoch: reply[0].toString(), offset: Number(reply[1]?.toString() ?? 0) };
  }

  async #range(topic: string, epoch: string, from: number, upTo: number | '+'): Promise<TopicMessage[]> {
    const reply = (await this.#commands!.sendCommand(['XRANGE', this.#key(topic, 'stream'), `${from}-0`, upTo === '+' ? '+' : `${upTo}-1`])) as [Buffer, Buffer[]][];
    return reply.map(([id, fields]) => {
      const values = new Map<string, Buffer>();
      for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i]!.toString(), fields[i + 1]!);
      const key = values.get('k')?.toString();
      return {
        topic,
        epoch,
        offset: Number(id.toString().split('-')[0]),
        data: new Uint8Array(values.get('d') ?? Buffer.alloc(0)),
        isText: values.get('f')?.toString() === 't',
        key: key === '' ? undefined : key,
        id: values.get('i')?.toString() ?? '',
      };
    });
  }

  /** Bounds a call to Redis by the timeout; the call itself may still complete later. */
  async #bounded<T>(what: string, call: Promise<T>): Promise<T> {
    let timer: WheelTimer | undefined;
    try {
      return await Promise.race([
        call,
        new Promise<never>((_, reject) => {
          // Ref'd, as a setTimeout: someone awaits the call.
          timer = new WheelTimer(() => reject(new BrokerError('timeout', `redis did not answer ${what} within ${this.#timeout} ms`)), { ref: true });
          timer.schedule(this.#timeout);
        }),
      ]);
    } catch (error) {
      if (error instanceof BrokerError) throw error;
      throw new BrokerError('failed', `redis failed ${what}: ${(error as Error).message}`, error);
    } finally {
      timer?.cancel();
    }
  }

  async publish(topic: string, data: Uint8Array, isText: boolean, id: string, key: string | undefined): Promise<TopicPosition> {
    if (this.#closed || this.#commands === null) throw new BrokerError('closed', 'the redis broker is closed');
    if (this.#pending >= this.#maxPending) throw new BrokerError('overloaded', `${this.#pending} publishes already wait for redis (maxPendingPublishes)`);
    const args = [
        newEpoch(),
        Buffer.from(data.buffer, data.byteOffset, data.length),
        isText ? 't' : 'b',
        key ?? '',
        id,
        String(this.#historySize),
        String(this.#ttl),
        this.#channel(topic),
      ];
    const keys = [this.#key(topic, 'meta'), this.#key(topic, 'stream'), this.#key(topic, `id:${id}`)];
    // Counted until Redis answers, not until the timeout: a publish that timed out still waits in
    // the client's queue while the link is down, and the bound is on that queue.
    this.#pending++;
    const call = this.#script(PUBLISH_SCRIPT, keys, args);
    call.then(
      () => this.#pending--,
      () => this.#pending--,
    );
    const reply = (await this.#bounded('a publish', call)) as [Buffer, number];
    return { epoch: reply[0].toString(), offset: Number(reply[1]) };
  }

  /** EVALSHA, loading the script when Redis does not have it (first use, or after a restart). */
  async #script(script: string, keys: string[], args: (string | Buffer)[]): Promise<unknown> {
    const commands = this.#commands!;
    let sha = this.#shas.get(script);
    if (sha !== undefined) {
      try {
        return await commands.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
      } catch (error) {
        if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
      }
    }
    sha = ((await commands.sendCommand(['SCRIPT', 'LOAD', script])) as Buffer).toString();
    this.#shas.set(script, sha);
    return await commands.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
  }

  async history(topic: string, since: TopicPosition | undefined): Promise<HistoryResult> {
    if (this.#closed || this.#commands === null) throw new BrokerError('closed', 'the redis broker is closed');
    const meta = await this.#bounded('a history read', this.#meta(topic));
    if (meta === null) return { epoch: '', offset: 0, messages: [], complete: since === undefined || since.offset === 0 };
    const sameEpoch = since !== undefined && since.epoch === meta.epoch;
    const from = sameEpoch ? since.offset + 1 : 1;
    const messages = await this.#bounded('a history read', this.#range(topic, meta.epoch, from, '+'));
    const complete = since === undefined ? messages.length === 0 ? meta.offset === 0 : messages[0]!.offset === 1 : sameEpoch && (since.offset >= meta.offset || messages[0]?.offset === since.offset + 1);
    return { epoch: meta.epoch, offset: meta.offset, messages, complete };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#renewal?.stop();
    // This node stops being counted now rather than when its counts expire (best effort: a
    // Redis that does not answer lets them expire).
    const commands = this.#commands;
    if (commands?.isReady === true) {
      await this.#bounded('the count removal', Promise.all([...this.#topics.keys()].map((topic) => commands.sendCommand(['HDEL', this.#key(topic, 'counts'), this.#node])))).catch(() => {});
    }
    this.#closed = true;
    this.#topics.clear();
    await Promise.all([this.#commands?.close(), this.#subscriber?.close()].map((p) => p?.catch(() => {})));
  }
}
