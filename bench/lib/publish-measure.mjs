// What the cross-process topic benches (publish-cluster.mjs, publish-redis.mjs) measure alike:
// their flags, the latency of one message at a time from a publishing client to a client on
// another process, and deliveries per second in windows, with every other receiver counting.

/** A numeric `--name=value` flag, or `fallback`. */
export const numberArg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

/** Messages sent at once in the throughput run: below the brokers' default bound of 1,000 waiting publishes. */
export const WINDOW = 500;

const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
};

/** { p50, p99 } of a list of milliseconds. */
export const latencySummary = (xs) => ({ p50: percentile(xs, 0.5), p99: percentile(xs, 0.99) });

/** A latencySummary as text. */
export const formatLatency = (s) => `p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms`;

/**
 * Publish-to-delivery milliseconds of `messages` messages, one at a time: `publisher` sends
 * "pub:<n>" (which its server publishes) and `far`, a client on another process, receives it.
 */
export async function measureLatency(publisher, far, messages) {
  const latencies = [];
  for (let i = 0; i < messages; i++) {
    const t0 = performance.now();
    publisher.send(`pub:${i}`);
    await far.receive();
    latencies.push(performance.now() - t0);
  }
  return latencies;
}

/**
 * Counts what arrives on every one of `receivers` (WebSockets) but `far`, which the caller reads
 * itself. Install it before measureLatency so those receivers drain as it runs.
 */
export function deliveryCounter(receivers, far) {
  let counted = 0;
  let waiter = null;
  for (const ws of receivers) {
    if (ws === far) continue;
    ws.on('message', () => {
      counted++;
      waiter?.();
    });
  }
  return {
    reset() {
      counted = 0;
    },
    async reach(target) {
      while (counted < target) await new Promise((resolve) => (waiter = resolve));
    },
  };
}

/**
 * Seconds to publish `messages` messages in windows of WINDOW, each window ending once `far`
 * read it and every other of the `receivers` (counted by `counter`) had it too.
 */
export async function measureThroughput(publisher, far, counter, receivers, messages) {
  const others = receivers - 1;
  counter.reset();
  const started = performance.now();
  for (let sent = 0; sent < messages; sent += WINDOW) {
    const n = Math.min(WINDOW, messages - sent);
    for (let i = 0; i < n; i++) publisher.send(`pub:${sent + i}`);
    for (let i = 0; i < n; i++) await far.receive();
    await counter.reach((sent + n) * others);
  }
  return (performance.now() - started) / 1000;
}

/**
 * Serves the topic 'bench' on `server`: every connection subscribes and is told "hello <pid>"
 * once its subscription is in place (the history read follows it through the broker); "pub:<n>"
 * publishes <n>, timing each publish() call into the returned list; "calls" answers (and empties)
 * that list.
 */
export function serveBench(server) {
  const calls = [];
  server.on('connection', (ws) => {
    ws.subscribe('bench');
    void server.history('bench').then(() => ws.send(`hello ${process.pid}`));
    ws.on('message', (data) => {
      const text = String(data);
      if (text === 'calls') ws.send(`calls ${JSON.stringify(calls.splice(0))}`);
      else if (text.startsWith('pub:')) {
        const t0 = performance.now();
        server.publish('bench', text.slice(4)).then(
          () => calls.push(performance.now() - t0),
          (error) => ws.send(`failed ${error.message}`),
        );
      }
    });
  });
  return calls;
}
