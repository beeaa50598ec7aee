/**
 * The listener table of one WebSocket, in the shape V8 stores compactly (perf-mem, issue 24).
 *
 * An EventEmitter keeps its listeners in `_events`, which Node creates as `{ __proto__: null }`:
 * V8 makes every such literal a dictionary-mode object, about 184 bytes of heap (a 160-byte hash
 * table behind a 24-byte object) for the two or three events a connection has listeners for,
 * idle or not. An instance of a constructor whose prototype has no prototype of its own is just
 * as free of inherited names (`toString`, `constructor`, `__proto__` are no event's listeners),
 * but V8 gives it fast properties stored in the object itself: about 48 bytes.
 *
 * Node's streams do the same for their own `_events`; EventEmitter accepts any object there and
 * replaces it with its own literal whenever every listener is removed.
 */

/** A listener table with no inherited names, stored in fast mode (see the file's comment). */
interface ListenerTable {
  [event: string | symbol]: unknown;
}

/** Constructs an empty table (a plain function: a class cannot be given a null-prototype prototype). */
const ListenerTable = function ListenerTable(this: ListenerTable): void {} as unknown as new () => ListenerTable;
ListenerTable.prototype = Object.create(null) as ListenerTable;

/**
 * Gives a freshly constructed EventEmitter (no listener added yet) a fast listener table. Does
 * nothing once it has listeners, so it can never drop one.
 */
export function useFastListenerTable(emitter: object): void {
  const e = emitter as { _events?: object; _eventsCount?: number };
  if (e._eventsCount === 0) e._events = new ListenerTable();
}

/**
 * The 'message' listener, or the array of them, of an emitter; undefined when it has none. Read
 * straight from its table: `listenerCount('message')` makes the same read inside Node's events
 * module, where one load serves every emitter and event name of the process, so V8 stops
 * specialising it (a megamorphic keyed load per call); this load sees only WebSocket tables and
 * one name (issue 24: it runs once per message received).
 */
export function messageListeners(emitter: object): unknown {
  return (emitter as { _events?: { message?: unknown } })._events?.message;
}
