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

/** One user's buckets on this node, shared by all of that user's sockets. */
export interface UserBuckets {
  answers: TokenBucket;
  proctor: TokenBucket;
  other: TokenBucket;
}

/**
 * Rate limits per user, not per socket: a second socket (or a twentieth) of the same token shares
 * the first one's buckets, so opening more sockets buys no more events; and at most `maxSockets`
 * sockets per user on this node. (Several nodes each count their own; behind sticky sessions a user's
 * sockets land on one node.)
 */
export class UserLimits {
  private readonly users = new Map<number, { sockets: number; buckets: UserBuckets }>();

  constructor(
    private readonly limits: RateLimits,
    private readonly maxSockets: number,
    /** Scales every rate and burst (invigilators act on many students). @default 1 */
    private readonly factor = 1,
  ) {}

  /** Whether `userId` already has `maxSockets` sockets here (a new one is refused). */
  full(userId: number): boolean {
    return (this.users.get(userId)?.sockets ?? 0) >= this.maxSockets;
  }

  /** A new socket of `userId` (admitted after {@link full} said no), counted: its buckets. */
  attach(userId: number): UserBuckets {
    const entry = this.users.get(userId);
    if (entry) {
      entry.sockets++;
      return entry.buckets;
    }
    const bucket = (k: keyof RateLimits) => new TokenBucket(this.limits[k].perSecond * this.factor, this.limits[k].burst * this.factor);
    const buckets = { answers: bucket('answers'), proctor: bucket('proctor'), other: bucket('other') };
    this.users.set(userId, { sockets: 1, buckets });
    return buckets;
  }

  /** A socket of `userId` closed; the buckets go with the last one. */
  detach(userId: number): void {
    const entry = this.users.get(userId);
    if (!entry) return;
    if (--entry.sockets <= 0) this.users.delete(userId);
  }
}
