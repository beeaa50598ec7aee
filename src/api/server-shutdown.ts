/**
 * The last step of `WebSocketServer.close()`: every client is closed with 1001 (going away) and
 * the server waits for their closing handshakes, each bounded by a deadline on the timer service
 * (so that a fake clock drives it in tests, as it drives the connections' own timers).
 */
import { CloseCode } from '../core/close-code.js';
import { systemTimers, WheelTimer, type TimerService } from '../node/timer-wheel.js';
import type { WebSocket } from './websocket.js';

/**
 * How much later than a connection's own `closeTimeout` the server gives up on it: the
 * connection's timer destroys an unanswering peer first; this margin only guards against a
 * connection that would not, and keeps the two from racing.
 */
export const SHUTDOWN_MARGIN = 100;

/**
 * Closes every client with 1001 and resolves once each has closed, or `closeTimeout` +
 * SHUTDOWN_MARGIN ms after the close was sent, when the one still open is terminated. A
 * `closeTimeout` of 0 waits as long as the closing handshakes take. Never rejects.
 */
export async function closeClients(clients: Iterable<WebSocket>, closeTimeout: number, timers: TimerService = systemTimers): Promise<void> {
  await Promise.all([...clients].map((ws) => closeClient(ws, closeTimeout, timers)));
}

async function closeClient(ws: WebSocket, closeTimeout: number, timers: TimerService): Promise<void> {
  let timer: WheelTimer | undefined;
  const deadline = new Promise<void>((resolve) => {
    if (closeTimeout === 0) return;
    // ref'd, as the setTimeout it replaces: the caller awaits close().
    timer = new WheelTimer(
      () => {
        ws.terminate();
        resolve();
      },
      { ref: true, timers },
    );
    timer.schedule(closeTimeout + SHUTDOWN_MARGIN);
  });
  // RFC 6455 section 7.4.1: 1001, the endpoint is going away (a server going down).
  const closed = ws.close(CloseCode.GoingAway, 'server shutting down').then(
    () => undefined,
    () => undefined,
  );
  await Promise.race([closed, deadline]);
  timer?.cancel();
}
