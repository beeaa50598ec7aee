/**
 * The waits of senders for their bytes to leave (OutputBatcher.whenWritten): one per batch, shared
 * by its sends, settled once the operating system has taken the output up to its end, rejected
 * when the transport ends first. Kept apart from the batching itself: what a wait is, how one is
 * made with as little as possible (issue 24: a batch's wait was, with the array holding it, more
 * than a third of what an echoed message allocated), and how a 'message' listener's interest in
 * one is recorded without a promise reaction (see OutputBatcher.watchBatch).
 */

/** One settled promise for every wait that is already over (no allocation per send). */
export const RESOLVED: Promise<void> = Promise.resolve();

const ignore = (): void => {};

/** A sender waiting until the operating system has taken the output up to `upTo`. */
export interface WriteWaiter {
  upTo: number;
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
  /** Told if the wait rejects, in place of a reaction given when it was made (see watchBatch). */
  onRejected: ((error: unknown) => void) | null;
}

// The executor of every wait's promise: one function for all, not a closure per promise.
let madeResolve: () => void = ignore;
let madeReject: (error: Error) => void = ignore;
function keepSettlers(resolve: () => void, reject: (error: Error) => void): void {
  madeResolve = resolve;
  madeReject = reject;
}

/** A new wait for the output up to `upTo` (Infinity: the end of the batch, not known yet). */
export function newWaiter(upTo: number): WriteWaiter {
  const promise = new Promise<void>(keepSettlers);
  return { upTo, promise, resolve: madeResolve, reject: madeReject, onRejected: null };
}

/**
 * Rejects a wait whose bytes may never have left. Senders may fire and forget: a rejection nobody
 * awaits must not be an unhandled one. The handler is given here, not when the promise is made (one
 * promise and one microtask less per batch that succeeds, issue 24): a rejection is unhandled only
 * if none is there by then. So is the watcher's (see OutputBatcher.watchBatch).
 */
export function rejectWaiter(waiter: WriteWaiter, error: Error): void {
  waiter.promise.catch(ignore);
  if (waiter.onRejected !== null) waiter.promise.then(undefined, waiter.onRejected);
  waiter.reject(error);
}

/** What OutputBatcher.batchWatch says of a promise: not a wait of the held batch (nor the settled one). */
export const NOT_THE_BATCH = 0;
/** ... nothing to watch: the settled wait, or the batch's wait already watched. */
export const WATCHED = 1;
/** ... the held batch's wait, which no one watches yet. */
export const UNWATCHED = 2;
