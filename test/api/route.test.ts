import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePattern, selectProtocol, splitTarget } from '../../src/api/route.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

const q = new URLSearchParams();

describe('request target (RFC 7230 section 5.3)', () => {
  it('splits origin-form into path and query', () => {
    assert.deepEqual(splitTarget('/chat?room=1&x'), { path: '/chat', query: 'room=1&x' });
    assert.deepEqual(splitTarget('/'), { path: '/', query: '' });
    assert.deepEqual(splitTarget('/a?'), { path: '/a', query: '' });
  });

  it('takes the path of absolute-form targets, as proxies send them', () => {
    assert.deepEqual(splitTarget('http://example.com:8080/chat?x=1'), { path: '/chat', query: 'x=1' });
    assert.deepEqual(splitTarget('ws://example.com'), { path: '/', query: '' });
  });

  it('refuses asterisk-form, authority-form, other schemes and the empty target', () => {
    assert.equal(splitTarget('*'), null);
    assert.equal(splitTarget('example.com:443'), null);
    assert.equal(splitTarget('ftp://example.com/x'), null);
    assert.equal(splitTarget(''), null);
  });

  it('drops a fragment rather than matching on it', () => {
    assert.deepEqual(splitTarget('/chat#frag'), { path: '/chat', query: '' });
  });
});

describe('route patterns', () => {
  it('an exact path matches only itself', () => {
    const m = compilePattern('/chat');
    assert.deepEqual(m('/chat', q)?.params, {});
    assert.equal(m('/chat/', q), null);
    assert.equal(m('/chat/x', q), null);
    assert.equal(m('/Chat', q), null);
    assert.equal(m('/chatroom', q), null);
  });

  it(':name segments capture one non-empty, percent-decoded segment', () => {
    const m = compilePattern('/rooms/:room/users/:user');
    assert.deepEqual(m('/rooms/42/users/ann%20b', q)?.params, { room: '42', user: 'ann b' });
    assert.equal(m('/rooms//users/x', q), null);
    assert.equal(m('/rooms/42/users/x/y', q), null);
    assert.equal(m('/rooms/42/users', q), null);
    assert.equal(m('/rooms/42/people/x', q), null);
  });

  it('matches on the encoded path, so %2F never splits a segment', () => {
    const m = compilePattern('/files/:name');
    assert.deepEqual(m('/files/a%2Fb', q)?.params, { name: 'a/b' });
  });

  it('keeps invalid percent-encoding raw instead of refusing', () => {
    const m = compilePattern('/x/:v');
    assert.deepEqual(m('/x/%E0%A4%A', q)?.params, { v: '%E0%A4%A' });
  });

  it("'*' matches every path", () => {
    const m = compilePattern('*');
    assert.ok(m('/anything/at/all', q));
  });

  it('a RegExp is tested against the path and its named groups become params', () => {
    const m = compilePattern(/^\/v(?<version>\d+)\/stream$/);
    assert.deepEqual(m('/v2/stream', q)?.params, { version: '2' });
    assert.equal(m('/v2/stream?x', q), null);
    assert.equal(m('/vx/stream', q), null);
  });

  it('a global RegExp matches the same way every time (no lastIndex carried between requests)', () => {
    const m = compilePattern(/^\/g$/g);
    assert.ok(m('/g', q));
    assert.ok(m('/g', q));
    assert.ok(m('/g', q));
  });

  it('hands the query through', () => {
    const query = new URLSearchParams('token=abc');
    assert.equal(compilePattern('/a')('/a', query)?.query.get('token'), 'abc');
  });

  it('rejects bad patterns when the route is added, not when a client arrives', () => {
    assert.throws(() => compilePattern('chat'), InvalidArgumentError);
    assert.throws(() => compilePattern('/a/:'), InvalidArgumentError);
    assert.throws(() => compilePattern('/a/:x/:x'), InvalidArgumentError);
    assert.throws(() => compilePattern(42 as unknown as string), InvalidArgumentError);
  });
});

describe('subprotocol selection (RFC 6455 section 4.2.2)', () => {
  it("follows the server's preference, not the client's order", () => {
    assert.equal(selectProtocol(['chat.v2', 'chat.v1'], ['chat.v1', 'chat.v2']), 'chat.v2');
    assert.equal(selectProtocol(['chat.v1', 'chat.v2'], ['chat.v2', 'chat.v1']), 'chat.v1');
  });

  it('picks nothing when nothing is shared or nothing was offered', () => {
    assert.equal(selectProtocol(['a'], ['b']), undefined);
    assert.equal(selectProtocol(['a'], []), undefined);
    assert.equal(selectProtocol([], ['a']), undefined);
  });

  it('compares names exactly (subprotocol names are case-sensitive)', () => {
    assert.equal(selectProtocol(['Chat'], ['chat']), undefined);
  });
});
