/**
 * The driver's 'end' listener on a socket, without a listener array per connection (perf-mem,
 * issue 24).
 *
 * A net.Socket listens for its own 'end' from birth, and an EventEmitter keeps a second listener
 * of one event in a two-element array: 64 bytes of heap per connection, idle or not. When the
 * socket's only 'end' listener is a plain function (not a `once` wrapper), it is replaced by one
 * function that calls it and then ours; that function is made once per pair of listeners and
 * shared by every socket with the same pair, so the order of the two calls, and what each does,
 * are unchanged.
 *
 * Only for net.Socket (TLS included): a stream keeps its listener table's shape when a listener
 * is removed (Node's shape mode), so the swap leaves the table as compact as it was.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

type EndListener = (this: Duplex) => void;

/** First listener -> our listener -> the function calling both. */
const pairs = new WeakMap<EndListener, WeakMap<EndListener, EndListener>>();

function both(first: EndListener, then: EndListener): EndListener {
  let byThen = pairs.get(first);
  if (byThen === undefined) pairs.set(first, (byThen = new WeakMap()));
  let joined = byThen.get(then);
  if (joined === undefined) {
    joined = function (this: Duplex): void {
      first.call(this);
      then.call(this);
    };
    byThen.set(then, joined);
  }
  return joined;
}

/** Adds `listener` for the stream's 'end', after the listeners it has (see the file's comment). */
export function addEndListener<S extends Duplex>(stream: S, ours: (this: S) => void): void {
  const listener = ours as EndListener;
  if (stream instanceof Socket && stream.listenerCount('end') === 1) {
    const [raw] = stream.rawListeners('end') as EndListener[];
    const [plain] = stream.listeners('end') as EndListener[];
    // A `once` listener's raw form is its wrapper, which removes itself by identity: leave it be.
    if (raw !== undefined && raw === plain) {
      stream.removeListener('end', raw);
      stream.on('end', both(raw, listener));
      return;
    }
  }
  stream.on('end', listener);
}
