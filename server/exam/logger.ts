/**
 * What the domain logs through: pino's `(obj, msg)` form, so the server's logger (Fastify's pino) fits
 * as it is, and a test can pass a few functions.
 */
export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
