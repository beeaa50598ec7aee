/**
 * The `hybi/core` entry point: the sans-I/O core's names (core/index.ts), and the error classes
 * that only the layers above raise, so that `import { ConnectError } from 'hybi/core'` keeps
 * working now that those classes live with the code that raises them. All of it is plain
 * JavaScript: loading this entry loads no Node module.
 */
export * from './core/index.js';
export { HandshakeError, ConnectError, MessageTimeoutError, SendBufferFullError, CloseTimeoutError } from './node/errors.js';
export { InvalidURLError, PongMismatchError, PingTimeoutError, IdleTimeoutError, NotUtf8Error, type HybiError, isHybiError } from './api/errors.js';
