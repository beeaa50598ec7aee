/**
 * hybi: the public API. `hybi/core` holds the low-level layer; everything a user needs is here.
 */
export * from './core/errors.js';
