// The worker script of test/api/topics-cluster.test.ts: a server on the cluster's shared port
// whose every connection subscribes to 'news'. A client's "pub:<text>" publishes <text>, and the
// publisher gets "published <offset>"; "count" answers "count <all workers> local <this worker>"; each connection first gets "hello <pid>", once its
// subscription is known to the primary (the history read behind it on the same IPC channel).
import { WebSocketServer } from '../../src/api/server.js';
import { clusterBroker } from '../../src/api/topics/cluster-broker.js';

const server = new WebSocketServer({ broker: clusterBroker() });
server.on('connection', (ws) => {
  ws.subscribe('news');
  void server.history('news').then(() => ws.send(`hello ${process.pid}`));
  ws.on('message', (data) => {
    const text = String(data);
    if (text === 'count') {
      void server.totalSubscriberCount('news').then(
        (n) => ws.send(`count ${n} local ${server.subscriberCount('news')}`),
        (error: Error) => ws.send(`failed ${error.message}`),
      );
    } else if (text.startsWith('pub:')) {
      void server.publish('news', text.slice(4)).then(
        (position) => ws.send(`published ${position.offset}`),
        (error: Error) => ws.send(`failed ${error.message}`),
      );
    }
  });
});
// The primary disconnects its workers to stop them: close the server so the worker can exit.
process.on('disconnect', () => void server.close());
await server.listen({ port: 0, host: '127.0.0.1' });
