import { AppError } from '../errors.js';

/**
 * Slows password guessing: after `maxFailures` failed logins for one e-mail within `windowMs`, further
 * attempts for it are refused with `RATE_LIMITED` until the window has passed. Keyed by e-mail, not
 * by address: a whole exam hall logs in from one NAT address at once. Per process (each node keeps
 * its own count), bounded in size.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly maxFailures = 10,
    private readonly windowMs = 15 * 60_000,
    private readonly maxTracked = 100_000,
  ) {}

  /** Throws `RATE_LIMITED` when this e-mail has failed too often lately. */
  check(email: string): void {
    const entry = this.failures.get(email);
    if (!entry) return;
    const age = Date.now() - entry.since;
    if (age >= this.windowMs) {
      this.failures.delete(email);
      return;
    }
    if (entry.count >= this.maxFailures) {
      throw new AppError('RATE_LIMITED', 'Too many failed logins for this account; try again later', {
        retryAfterMs: this.windowMs - age,
      });
    }
  }

  failed(email: string): void {
    const entry = this.failures.get(email);
    if (entry && Date.now() - entry.since < this.windowMs) {
      entry.count++;
      return;
    }
    if (this.failures.size >= this.maxTracked) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(email, { count: 1, since: Date.now() });
  }

  succeeded(email: string): void {
    this.failures.delete(email);
  }
}
