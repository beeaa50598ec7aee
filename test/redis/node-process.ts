// One hybi server process of the Redis tests: a WebSocketServer on a free loopback port with a
// redisBroker, whose route /t/a,b subscribes each connection to the topics a and b. The parent
// drives it over IPC: { op: 'publish' | 'history' | 'count' | 'total' | 'close', ... } -> { seq, ok, ... }.
import { WebSocketServer } from '../../src/api/server.js';
import { redisBroker } from '../../src/redis/index.js';
import type { BrokerError } from '../../src/api/errors.js';

interface Request {
  seq: number;
  op: 'publish' | 'history' | 'count' | 'total' | 'close';
  topic?: string;
  data?: string;
  id?: string;
  since?: { epoch: string; offset: number };
}

const server = new WebSocketServer({ broker: redisBroker({ url: process.env.REDIS_URL, timeout: Number(process.env.BROKER_TIMEOUT ?? 2000), countTtl: Number(process.env.COUNT_TTL ?? 30_000) }) });
const errors: string[] = [];
server.on('error', (error) => errors.push(error.message));
server.on('handlerError', () => {});
server.route('/t/:topics', (ws, _req, match) => {
  for (const topic of match.params.topics!.split(',')) ws.subscribe(topic);
});
const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

process.on('message', (raw) => {
  const request = raw as Request;
  const answer = (body: object): void => {
    process.send!({ seq: request.seq, ...body });
  };
  void (async () => {
    try {
      if (request.op === 'publish') answer({ ok: true, result: await server.publish(request.topic!, request.data!, request.id === undefined ? {} : { id: request.id }) });
      else if (request.op === 'history') {
        const h = await server.history(request.topic!, request.since === undefined ? {} : { since: request.since });
        answer({ ok: true, result: { epoch: h.epoch, offset: h.offset, complete: h.complete, messages: h.messages.map((m) => Buffer.from(m.data).toString()) } });
      } else if (request.op === 'count') answer({ ok: true, result: server.subscriberCount(request.topic!) });
      else if (request.op === 'total') answer({ ok: true, result: await server.totalSubscriberCount(request.topic!) });
      else {
        await server.close();
        answer({ ok: true, result: errors.length });
        process.disconnect();
      }
    } catch (error) {
      answer({ ok: false, code: (error as BrokerError).code, reason: (error as BrokerError).reason, message: (error as Error).message });
    }
  })();
});
process.send!({ ready: port });
