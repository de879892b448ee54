/**
 * A latency histogram that load processes fill and send to the runner: 10 µs buckets below 1 ms, then
 * buckets 1 % wide up to 10 minutes, so any percentile is within 1 % and hundreds of thousands of
 * samples travel as a few hundred numbers. Mergeable (counts add up); the exact maximum is kept.
 */
const LINEAR_US = 1000;
const LINEAR_STEP_US = 10;
const LINEAR_BUCKETS = LINEAR_US / LINEAR_STEP_US;
const GROWTH = Math.log(1.01);

/** What crosses a process boundary: sparse `[bucket, count]` pairs. */
export interface HistogramData {
  buckets: [number, number][];
  count: number;
  sum: number;
  max: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function bucketOf(ms: number): number {
  const us = Math.max(0, ms * 1000);
  if (us < LINEAR_US) return Math.floor(us / LINEAR_STEP_US);
  return LINEAR_BUCKETS + Math.floor(Math.log(us / LINEAR_US) / GROWTH);
}

/** The upper edge of a bucket, in ms: a percentile is reported as at most this. */
export function bucketUpperMs(bucket: number): number {
  if (bucket < LINEAR_BUCKETS) return ((bucket + 1) * LINEAR_STEP_US) / 1000;
  return (LINEAR_US * Math.exp((bucket - LINEAR_BUCKETS + 1) * GROWTH)) / 1000;
}

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  sum = 0;
  max = 0;

  record(ms: number): void {
    const b = bucketOf(ms);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: HistogramData): this {
    for (const [b, n] of other.buckets) this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
    return this;
  }

  static from(data: HistogramData[]): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const d of data) h.merge(d);
    return h;
  }

  toJSON(): HistogramData {
    return { buckets: [...this.counts], count: this.count, sum: this.sum, max: this.max };
  }

  /** The `p`th percentile in ms (the upper edge of its bucket, never above the maximum); NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return Math.min(bucketUpperMs(b), this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    const r = (n: number) => Number(n.toFixed(2));
    return {
      count: this.count,
      p50: r(this.percentile(50)),
      p95: r(this.percentile(95)),
      p99: r(this.percentile(99)),
      max: r(this.max),
      mean: r(this.count ? this.sum / this.count : NaN),
    };
  }

  /** Counts in `edges.length + 1` bins (`< edges[0]`, …, `>= last edge`), edges in ms: for the picture. */
  binned(edges: number[]): number[] {
    const bins = new Array<number>(edges.length + 1).fill(0);
    for (const [b, n] of this.counts) {
      const upper = bucketUpperMs(b);
      let i = edges.findIndex((e) => upper <= e);
      if (i < 0) i = edges.length;
      bins[i]! += n;
    }
    return bins;
  }
}
