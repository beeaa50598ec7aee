#!/usr/bin/env node
// Sends N messages and closes at once while a for await loop on the other end echoes them, and
// counts how often every echo came back before the close (issue 15), for N = 1, 5 and 100, plain
// and compressed, either end echoing, over loopback TCP.
// Usage: npm run build:test && node scripts/close-evidence.mjs [BUILD_DIR=build] [RUNS=100]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [buildArg = 'build', runsArg = '100'] = process.argv.slice(2);
const build = pathToFileURL(resolve(buildArg)).href;
const { WebSocket } = await import(`${build}/src/api/websocket.js`);
const { DeflateCodec } = await import(`${build}/src/node/deflate-codec.js`);
const { tcpPair } = await import(`${build}/test/helpers/tcp-pair.js`);
const params = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
const runs = Number(runsArg);
for (const compressed of [false, true]) for (const echoer of ['server', 'client']) for (const N of [1, 5, 100]) {
  let full = 0, total = 0;
  for (let run = 0; run < runs; run++) {
    const [cs, ss] = await tcpPair();
    const codecs = (role) => compressed ? { codecs: [new DeflateCodec(role, params, 'permessage-deflate', { threshold: 0 })] } : {};
    const client = new WebSocket(cs, { role: 'client', pingInterval: 0, idleTimeout: 0, closeTimeout: 2000, ...codecs('client') });
    const server = new WebSocket(ss, { role: 'server', pingInterval: 0, idleTimeout: 0, closeTimeout: 2000, ...codecs('server') });
    const [echo, sender] = echoer === 'server' ? [server, client] : [client, server];
    const loop = (async () => { for await (const m of echo) await echo.send(m.data).catch(() => {}); })();
    let got = 0;
    sender.on('message', () => got++);
    for (let i = 0; i < N; i++) void sender.send('message ' + i);
    await sender.close(1000).catch(() => {});
    await loop;
    if (echo.readyState !== 'closed') await new Promise((r) => echo.once('close', r));
    total += got;
    if (got === N) full++;
  }
  console.log(`${compressed ? 'compressed' : 'plain     '} ${echoer} echoes, N=${String(N).padStart(3)}: all N back in ${full}/${runs} runs (${total}/${N * runs} messages)`);
}
