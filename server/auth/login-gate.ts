import { availableParallelism } from 'node:os';
import { AppError } from '../errors.js';

/**
 * Admits logins (each a full scrypt verify, ~80 ms of a core at N=2^15) first come, first served:
 * at most `concurrency` at once, so the hashing leaves a core to the event loop that acks everyone
 * else's answers; up to `maxQueued` more wait their turn in arrival order; beyond that a login is
 * refused at once with `RATE_LIMITED` and a `retryAfterMs` of the expected wait, instead of queueing
 * for longer than any client or proxy waits. Measured in docs/benchmarks.md ("Login storm").
 */
export class LoginGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Moving mean of one admitted login, for the retry hint. */
  private meanMs = 100;

  constructor(
    /** @default one less than the cores (at least 1) */
    readonly concurrency = Math.max(1, availableParallelism() - 1),
    /** @default 500: about 40 s of logins on one core at N=2^15 */
    readonly maxQueued = 500,
  ) {}

  /** How long a login arriving now can expect to wait before its turn, in ms. */
  expectedWaitMs(): number {
    return Math.ceil(((this.waiting.length + 1) * this.meanMs) / this.concurrency);
  }

  async run<T>(login: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) {
        throw new AppError('RATE_LIMITED', 'Many students are signing in at once; try again shortly', {
          retryAfterMs: this.expectedWaitMs(),
        });
      }
      // The slot is handed over by the login that finishes (running stays counted), in arrival order.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    const began = performance.now();
    try {
      return await login();
    } finally {
      this.meanMs = 0.9 * this.meanMs + 0.1 * (performance.now() - began);
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
