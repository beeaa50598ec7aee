import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseWebSocketURL } from '../../src/api/url.js';
import { InvalidURLError } from '../../src/api/errors.js';

function rejects(input: string, scheme: string): void {
  assert.throws(
    () => parseWebSocketURL(input),
    (err: unknown) => err instanceof InvalidURLError && err.scheme === scheme && err.url === input && err.code === 'ERR_INVALID_URL',
    input,
  );
}

describe('RFC 6455 section 3: ws and wss URLs', () => {
  it('uses port 80 for ws and 443 for wss when the URL names none', () => {
    const ws = parseWebSocketURL('ws://example.com');
    assert.equal(ws.port, 80);
    assert.equal(ws.secure, false);
    assert.equal(ws.host, 'example.com');
    const wss = parseWebSocketURL('wss://example.com');
    assert.equal(wss.port, 443);
    assert.equal(wss.secure, true);
    assert.equal(wss.host, 'example.com');
  });

  it('leaves the default port out of the Host header and keeps any other', () => {
    assert.equal(parseWebSocketURL('ws://example.com:80/').host, 'example.com');
    assert.equal(parseWebSocketURL('wss://example.com:443/').host, 'example.com');
    const other = parseWebSocketURL('ws://example.com:8080/');
    assert.equal(other.host, 'example.com:8080');
    assert.equal(other.port, 8080);
    // 443 is not the default of ws, so it stays.
    assert.equal(parseWebSocketURL('ws://example.com:443/').host, 'example.com:443');
  });

  it('keeps path and query as the request target, and uses / for an empty path', () => {
    assert.equal(parseWebSocketURL('ws://h').path, '/');
    assert.equal(parseWebSocketURL('ws://h?x=1').path, '/?x=1');
    assert.equal(parseWebSocketURL('ws://h/a/b?x=1&y=%20').path, '/a/b?x=1&y=%20');
    // Characters not allowed in a request target are percent-encoded, never sent raw.
    assert.equal(parseWebSocketURL('ws://h/a b').path, '/a%20b');
  });

  it('dials an IPv6 literal without brackets and sends it in brackets in Host', () => {
    const u = parseWebSocketURL('ws://[::1]:9000/x');
    assert.equal(u.hostname, '::1');
    assert.equal(u.host, '[::1]:9000');
    assert.equal(u.port, 9000);
    assert.equal(u.isIP, true);
    const d = parseWebSocketURL('wss://[2001:db8::1]');
    assert.equal(d.host, '[2001:db8::1]');
    assert.equal(d.port, 443);
  });

  it('marks IPv4 literals as IPs and names as not', () => {
    assert.equal(parseWebSocketURL('ws://127.0.0.1:1/').isIP, true);
    assert.equal(parseWebSocketURL('ws://localhost:1/').isIP, false);
  });

  it('lower-cases scheme and host', () => {
    const u = parseWebSocketURL('WSS://Example.COM/Path');
    assert.equal(u.href, 'wss://example.com/Path');
    assert.equal(u.hostname, 'example.com');
    assert.equal(u.path, '/Path');
  });

  it('accepts a URL object', () => {
    assert.equal(parseWebSocketURL(new URL('ws://h:1/p')).href, 'ws://h:1/p');
  });

  it('resolves a relative reference against a base', () => {
    assert.equal(parseWebSocketURL('/next?q', 'ws://h:1/p').href, 'ws://h:1/next?q');
    assert.equal(parseWebSocketURL('wss://o/', 'ws://h:1/p').href, 'wss://o/');
  });
});

describe('http and https URLs map to ws and wss, as browsers do', () => {
  it('maps http to ws on port 80 and https to wss on port 443', () => {
    const a = parseWebSocketURL('http://h/p?q');
    assert.equal(a.href, 'ws://h/p?q');
    assert.equal(a.secure, false);
    assert.equal(a.port, 80);
    const b = parseWebSocketURL('https://h/');
    assert.equal(b.href, 'wss://h/');
    assert.equal(b.secure, true);
    assert.equal(b.port, 443);
  });

  it('keeps an explicit port across the mapping', () => {
    const u = parseWebSocketURL('https://[::1]:8443/');
    assert.equal(u.href, 'wss://[::1]:8443/');
    assert.equal(u.host, '[::1]:8443');
  });
});

describe('credentials in the URL', () => {
  it('are taken out of href and kept, decoded, for Basic authentication', () => {
    const u = parseWebSocketURL('ws://us%40er:p%3Ass@h/');
    assert.equal(u.href, 'ws://h/');
    assert.equal(u.auth, 'us@er:p:ss');
    assert.equal(parseWebSocketURL('ws://h/').auth, '');
  });
});

describe('InvalidURLError names what was wrong', () => {
  it('rejects other schemes and names them', () => {
    rejects('ftp://h/', 'ftp');
    rejects('file:///etc/passwd', 'file');
    rejects('mailto:a@b', 'mailto');
    rejects('javascript:alert(1)', 'javascript');
  });

  it('rejects fragments, including an empty one (RFC 6455 section 3)', () => {
    rejects('ws://h/#frag', 'ws');
    rejects('ws://h/p?q#', 'ws');
    rejects('https://h/#x', 'https');
  });

  it('rejects unparsable input and reports the scheme it could read', () => {
    rejects('ws://', 'ws');
    rejects('ws://h:99999/', 'ws');
    rejects('not a url', '');
    rejects('', '');
    rejects('//h/p', '');
    rejects('ws://[::1/', 'ws');
  });

  it('does not quote a huge input in full', () => {
    const input = 'x'.repeat(100_000);
    try {
      parseWebSocketURL(input);
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof InvalidURLError);
      assert.ok(err.message.length < 400);
      assert.equal(err.scheme, '');
    }
  });
});
