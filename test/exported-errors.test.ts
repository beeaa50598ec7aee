// Issue 16, point 2: every error a user can see is a WebSocketError. This walks what each public
// entry (resolved by Node from the built dist/ through the package's `exports` map, as a user
// imports it) exports, and checks every error class: it extends WebSocketError, and an instance
// carries a code of the failure table. A new error class without a sample here fails the test, so
// that it gets its code and its row in docs/errors.md before it ships.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Failures } from '../src/core/failures.js';

const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier);
const ENTRIES = ['hybi', 'hybi/core', 'hybi/browser', 'hybi/redis'];

type ErrorClass = new (...args: never[]) => Error;

/** The bases: never raised as such, each error raised is one of their subclasses. */
const BASES = new Set(['WebSocketError', 'LimitError']);

/** One instance of each error class, by class name, built as the code that raises it does. */
function sample(name: string, Class: ErrorClass): Error | undefined {
  const C = Class as unknown as new (...args: unknown[]) => Error;
  const bytes = new Uint8Array(1);
  const samples: Record<string, () => Error> = {
    HandshakeError: () => new C('refused', 403),
    InvalidURLError: () => new C('bad scheme', 'ftp://x/', 'ftp'),
    ConnectError: () => new C('refused', '127.0.0.1', 1),
    ConnectionClosedError: () => new C(1000, '', true),
    ConnectionNotOpenError: () => new C('closed'),
    ProtocolError: () => new C('reserved opcode 0x3'),
    MessageTooLargeError: () => new C('message of more than 1 bytes', 1),
    MessageTimeoutError: () => new C(1),
    KeepaliveTimeoutError: () => new C(1),
    SendBufferFullError: () => new C(1, 1),
    PongMismatchError: () => new C(bytes, bytes),
    PingTimeoutError: () => new C(1),
    CloseTimeoutError: () => new C(1),
    IdleTimeoutError: () => new C(1),
    NotUtf8Error: () => new C(bytes),
    ProxyError: () => new C('refused', 'http://127.0.0.1:1', 403),
    ProxyAuthError: () => new C('credentials', 'http://127.0.0.1:1', 407, 'Basic'),
    SendQueueFullError: () => new C('messages', 1),
    BrokerError: () => new C('timeout', 'no answer'),
    NotSupportedByVersionError: () => new C('hybi-00', 'binary', 'no binary'),
    InvalidArgumentError: () => new C('bad'),
    ServerStateError: () => new C('closed', 'closed'),
  };
  return samples[name]?.();
}

test('every error class the public entries export is a WebSocketError with a code of the failure table', async () => {
  const { WebSocketError } = (await load('hybi')) as { WebSocketError: ErrorClass };
  const codes = new Set<string>(Object.values(Failures).map((kind) => kind.code));
  const seen = new Set<string>();
  for (const entry of ENTRIES) {
    const exports = await load(entry);
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value !== 'function' || !(value === Error || value.prototype instanceof Error)) continue;
      seen.add(name);
      const Class = value as ErrorClass;
      assert.ok(Class === WebSocketError || Class.prototype instanceof WebSocketError, `${entry}: ${name} extends WebSocketError`);
      if (BASES.has(name)) continue;
      const error = sample(name, Class);
      assert.ok(error !== undefined, `${entry}: ${name} has no sample in this test: add one (and its code to the failure table)`);
      assert.equal(error.constructor, Class, `${entry}: the sample of ${name} is one`);
      const code = (error as Error & { code?: unknown }).code;
      assert.ok(typeof code === 'string' && codes.has(code), `${entry}: ${name}'s code ${String(code)} is in the failure table`);
    }
  }
  // The walk found the classes (a broken entry would make it vacuous).
  for (const name of ['WebSocketError', 'ProtocolError', 'LimitError', 'MessageTooLargeError', 'KeepaliveTimeoutError', 'ConnectError', 'BrokerError']) {
    assert.ok(seen.has(name), `${name} was found in an entry`);
  }
});

test('the limits of our own are LimitErrors, not ProtocolErrors, in every entry that exports them', async () => {
  for (const entry of ENTRIES) {
    const exports = await load(entry);
    const { LimitError, ProtocolError } = exports as Record<string, ErrorClass | undefined>;
    for (const name of ['MessageTooLargeError', 'MessageTimeoutError', 'KeepaliveTimeoutError', 'SendBufferFullError']) {
      const Class = exports[name] as ErrorClass | undefined;
      if (Class === undefined) continue;
      assert.ok(LimitError !== undefined && Class.prototype instanceof LimitError, `${entry}: ${name} extends LimitError`);
      assert.ok(ProtocolError === undefined || !(Class.prototype instanceof ProtocolError), `${entry}: ${name} is not a ProtocolError`);
    }
  }
});
