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

export interface RateLimits {
  /** Answers per second per socket, and the burst a reconnect may re-send at once. @default 10/s, 100 */
  answers: { perSecond: number; burst: number };
  /** Proctoring events per second per socket. @default 2/s, 20 */
  proctor: { perSecond: number; burst: number };
  /** Everything else (start, submit, invigilator actions) per socket. @default 5/s, 20 */
  other: { perSecond: number; burst: number };
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  answers: { perSecond: 10, burst: 100 },
  proctor: { perSecond: 2, burst: 20 },
  other: { perSecond: 5, burst: 20 },
};
