/**
 * Conformance, client role: the cases of cases.ts played by a raw fuzzing server (hand-written
 * 101, unmasked frames) against hybi's connect() client echoing every message back, as
 * Autobahn|Testsuite's fuzzingserver plays them against a testee client. The same checks as the
 * server role, from the other side: the client's frames must be masked, its close codes right, and
 * every connection must end with the client reporting its close.
 */
import { after, before, describe } from 'node:test';
import { FuzzingServer } from './harness.js';
import { ClientRole, describeCases } from './runner.js';

const role = new ClientRole('http1');
let fuzzing: FuzzingServer;
let port = 0;

describe('Conformance, client role: a fuzzing server against an echoing connect() client (Autobahn categories)', () => {
  before(async () => {
    fuzzing = new FuzzingServer(role.respond, role.accepted);
    port = await fuzzing.listen();
  });
  after(async () => {
    await fuzzing.close();
  });

  describeCases((c) => role.play(c, port));
});
