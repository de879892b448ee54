/** A token bucket: `burst` events at once, refilled at `perSecond`. One per socket and event kind. */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Takes a token; returns 0 when allowed, else the milliseconds until one is available. */
  take(): number {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}

/** Per-socket limits by kind of event (from the config: `RATE_LIMIT_*`). */
export type RateLimits = Record<'answers' | 'proctor' | 'other', { perSecond: number; burst: number }>;
