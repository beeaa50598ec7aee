import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { isIPv4, isValidHost, originMatchesHost, parseHost } from '../../src/core/host.js';

describe('RFC 9110 section 7.2 / RFC 3986 section 3.2.2: the Host header value', () => {
  it('accepts reg-names, IPv4 addresses and IP literals, each with an optional port', () => {
    const valid: Array<[string, string, number | null]> = [
      ['example.com', 'example.com', null],
      ['Example.COM:8080', 'Example.COM', 8080],
      ['127.0.0.1:80', '127.0.0.1', 80],
      ['localhost:', 'localhost', null],
      ['xn--bcher-kva.example:443', 'xn--bcher-kva.example', 443],
      ['under_score.example', 'under_score.example', null],
      ["sub-delims!$&'()*+,;=", "sub-delims!$&'()*+,;=", null],
      ['pct%20encoded', 'pct%20encoded', null],
      ['[::1]', '[::1]', null],
      ['[::1]:8080', '[::1]', 8080],
      ['[2001:db8::7]:65535', '[2001:db8::7]', 65535],
      ['[1:2:3:4:5:6:7:8]', '[1:2:3:4:5:6:7:8]', null],
      ['[::ffff:127.0.0.1]:1', '[::ffff:127.0.0.1]', 1],
      ['[1:2:3:4:5:6:1.2.3.4]', '[1:2:3:4:5:6:1.2.3.4]', null],
      ['[::]', '[::]', null],
      ['[1::]', '[1::]', null],
      ['[v1.fe80::a+en1]', '[v1.fe80::a+en1]', null],
      ['h:0', 'h', 0],
    ];
    for (const [value, hostname, port] of valid) {
      assert.deepEqual(parseHost(value), { hostname, port }, value);
      assert.equal(isValidHost(value), true, value);
    }
  });

  it('refuses what is not one host with an optional port (the review\'s three, and their kin)', () => {
    const invalid = [
      '',
      'a b:8080',
      'evil.example@127.0.0.1:8080',
      '127.0.0.1:8080/evil',
      '127.0.0.1:8080?x',
      '127.0.0.1#x',
      ':8080',
      'host:80:80',
      'host:8a',
      'host:99999',
      'host:123456',
      'host:-1',
      ' host',
      'host ',
      'a\tb',
      'a\r\nX-Injected: 1',
      'bücher.example',
      '%zz',
      '%2',
      'a\\b',
      '"quoted"',
      '<script>',
      '[::1',
      '::1',
      '[::1]x',
      '[::1]]',
      '[::g]',
      '[12345::]',
      '[1:2:3:4:5:6:7:8:9]',
      '[1:2:3:4:5:6:7]',
      '[1::2::3]',
      '[:1]',
      '[1:]',
      '[1:2:3:4:5:6:7:1.2.3.4]',
      '[::1.2.3]',
      '[::01.2.3.4]',
      '[::1%eth0]',
      '[v.x]',
      '[v1.]',
      '[vx.y]',
      '[]',
    ];
    for (const value of invalid) {
      assert.equal(parseHost(value), null, JSON.stringify(value));
      assert.equal(isValidHost(value), false, JSON.stringify(value));
    }
  });

  it('agrees with Node on which bracketed IPv6 literals are valid', () => {
    const ipv6 = fc.oneof(fc.ipV6(), fc.array(fc.constantFrom('0', '1', 'ff', 'abcd', '', '1.2.3.4', '12345', 'g'), { maxLength: 10 }).map((g) => g.join(':')));
    fc.assert(
      fc.property(ipv6, (address) => {
        assert.equal(isValidHost(`[${address}]`), isIP(address) === 6, address);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads IPv4 dec-octets without leading zeros, 0-255', () => {
    for (const ok of ['0.0.0.0', '255.255.255.255', '127.0.0.1', '10.20.30.40']) assert.equal(isIPv4(ok), true, ok);
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '1.2.3.4 ', 'a.b.c.d', '', '1234.1.1.1']) assert.equal(isIPv4(bad), false, bad);
  });

  it('is linear on long hostile values', () => {
    const MB = 1024 * 1024;
    for (const value of ['a'.repeat(MB) + ' ', '%41'.repeat(MB / 3) + '%', '[' + '1:'.repeat(MB / 2) + ']', '[v1.' + ':'.repeat(MB) + '@]', 'a'.repeat(MB) + ':' + '1'.repeat(MB)]) {
      const start = performance.now();
      assert.equal(isValidHost(value), false);
      assert.ok(performance.now() - start < 500, `${value.slice(0, 10)}...`);
    }
  });
});

describe('RFC 6455 section 10.2: an Origin on the Host it was sent to', () => {
  it('matches the same host and port, whatever the case and scheme', () => {
    assert.equal(originMatchesHost('http://127.0.0.1:8080', '127.0.0.1:8080'), true);
    assert.equal(originMatchesHost('http://Chat.Example', 'chat.example'), true);
    assert.equal(originMatchesHost('HTTPS://chat.example', 'CHAT.example'), true);
    // A port equal to the origin scheme's default is the same as none, on either side.
    assert.equal(originMatchesHost('https://chat.example', 'chat.example:443'), true);
    assert.equal(originMatchesHost('http://chat.example:80', 'chat.example'), true);
    assert.equal(originMatchesHost('http://[::1]:9000', '[::1]:9000'), true);
    // Scheme-less: a TLS-terminating proxy passes https:// pages to a plain HTTP server.
    assert.equal(originMatchesHost('https://chat.example', 'chat.example'), true);
  });

  it('does not match another host, another port, or anything that is not a serialized origin', () => {
    assert.equal(originMatchesHost('http://evil.example', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('http://127.0.0.1:8081', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('http://127.0.0.1', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('http://chat.example', 'chat.example:443'), false);
    assert.equal(originMatchesHost('http://localhost:8080', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('null', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('://127.0.0.1:8080', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('http://127.0.0.1:8080/', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('http://user@127.0.0.1:8080', '127.0.0.1:8080'), false);
    assert.equal(originMatchesHost('http://a b', 'a b'), false);
    assert.equal(originMatchesHost('http://chat.example.evil', 'chat.example'), false);
  });
});
