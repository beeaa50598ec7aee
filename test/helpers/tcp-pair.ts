/**
 * A real loopback TCP socket pair: a throwaway server on 127.0.0.1 port 0 accepts exactly one
 * connection and is closed at once, so the pair leaves nothing listening behind.
 */
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';

/** `[client, server]`: the dialing socket and the accepted one, both connected. */
export async function tcpPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(address.port, '127.0.0.1');
  try {
    const [[serverSide]] = await Promise.all([accepted, once(client, 'connect')]);
    return [client, serverSide];
  } finally {
    server.close();
  }
}

/** Destroys sockets (ignoring ones already gone) and waits until each has emitted 'close'. */
export async function destroyAll(...sockets: Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(async (socket) => {
      if (!socket.closed) {
        const closed = once(socket, 'close');
        socket.destroy();
        await closed;
      }
    }),
  );
}
