/**
 * Conformance, client role, over HTTP/2 (RFC 8441): the same cases and the same fuzzing server as
 * client-role.test.ts, with hybi's connect({ transport: 'http2' }) as the testee. Every case is an
 * extended CONNECT stream of the one h2c session connect() shares per origin; the fuzzing server
 * answers `:status 200` and plays its unmasked frames on the stream. What counts as closing TCP
 * over HTTP/1.1 is here ending (END_STREAM) or resetting the stream; the session must carry every
 * case.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FuzzingH2Server } from './harness.js';
import { ClientRole, describeCases } from './runner.js';

const role = new ClientRole('http2');
let fuzzing: FuzzingH2Server;
let port = 0;

describe('Conformance, client role over HTTP/2 streams (RFC 8441): a fuzzing server against an echoing connect() client', () => {
  before(async () => {
    fuzzing = new FuzzingH2Server(role.respond, role.accepted);
    port = await fuzzing.listen();
  });
  after(async () => {
    await fuzzing.close();
  });

  describeCases((c) => role.play(c, port));

  it('carried every case on one HTTP/2 session', () => {
    assert.equal(fuzzing.sessionCount, 1);
  });
});
