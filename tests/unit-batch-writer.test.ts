/**
 * BatchWriter on its own, with a real (in-memory) write function: batching, acks only after the write,
 * retries, refusal after the retries and when full, draining on close.
 */
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { AppError } from '../server/errors.js';
import { BatchWriter, type BatchWriterOptions } from '../server/exam/batch-writer.js';

/** A logger that keeps what it was told, for the assertions. */
function memoryLog(): FastifyBaseLogger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at =
    (level: string) =>
    (...args: unknown[]) => {
      lines.push({ level, msg: String(args.find((a) => typeof a === 'string') ?? '') });
    };
  const log = {
    lines,
    level: 'info',
    fatal: at('fatal'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
    silent: () => {},
    child: () => log,
  };
  return log as unknown as FastifyBaseLogger & { lines: typeof lines };
}

/** An in-memory store: `write` commits a batch after `delayMs`, failing the next `failures` calls. */
class MemoryStore {
  readonly committed: number[] = [];
  readonly batches: number[][] = [];
  failures = 0;
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly delayMs = 0) {}

  write = async (items: number[]): Promise<string[]> => {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.failures > 0) {
        this.failures--;
        throw new Error('connection reset');
      }
      this.batches.push([...items]);
      this.committed.push(...items);
      return items.map((i) => `stored:${i}`);
    } finally {
      this.inFlight--;
    }
  };
}

function writer(store: MemoryStore, opts: Partial<BatchWriterOptions> = {}, log = memoryLog()) {
  return new BatchWriter<number, string>('test', store.write, log, { flushIntervalMs: 5, retries: 2, ...opts });
}

describe('BatchWriter', () => {
  it('writes in batches of at most maxBatch and returns each caller its own result', async () => {
    const store = new MemoryStore(5);
    const w = writer(store, { maxBatch: 10, concurrency: 2 });
    const items = Array.from({ length: 35 }, (_, i) => i);
    const results = await Promise.all(items.map((i) => w.enqueue(i)));
    expect(results).toEqual(items.map((i) => `stored:${i}`));
    expect(store.batches.map((b) => b.length)).toEqual([10, 10, 10, 5]);
    expect(store.batches.flat().sort((a, b) => a - b)).toEqual(items);
    expect(store.maxInFlight).toBeLessThanOrEqual(2);
    expect(w.pending).toBe(0);
  });

  it('collects what arrives within the flush interval into one write', async () => {
    const store = new MemoryStore();
    const w = writer(store, { flushIntervalMs: 30, maxBatch: 100 });
    const first = w.enqueue(1);
    await new Promise((r) => setTimeout(r, 10));
    const second = w.enqueue(2);
    expect(await Promise.all([first, second])).toEqual(['stored:1', 'stored:2']);
    expect(store.batches).toEqual([[1, 2]]);
  });

  it('settles a caller only after the write that holds its item resolved', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const committed: number[] = [];
    const w = new BatchWriter<number, number>(
      'gated',
      async (items) => {
        await gate;
        committed.push(...items);
        return items;
      },
      memoryLog(),
      { flushIntervalMs: 1 },
    );
    let settled = false;
    const p = w.enqueue(7).then((r) => {
      settled = true;
      expect(committed).toContain(7);
      return r;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(settled).toBe(false);
    expect(w.pending).toBe(1);
    release();
    expect(await p).toBe(7);
    expect(settled).toBe(true);
  });

  it('retries a failing write and then succeeds, the callers none the wiser', async () => {
    const store = new MemoryStore();
    const log = memoryLog();
    const w = writer(store, { retries: 3 }, log);
    store.failures = 2;
    expect(await Promise.all([w.enqueue(1), w.enqueue(2)])).toEqual(['stored:1', 'stored:2']);
    expect(store.calls).toBe(3);
    expect(store.committed).toEqual([1, 2]);
    // One warning for the run of failures, one line when it is over: not one per failed write.
    expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(log.lines.filter((l) => l.level === 'info').map((l) => l.msg)).toEqual(['batch writes succeed again']);
  });

  it('logs an outage of many batches once when it starts, once at its first refusal and once when it ends', async () => {
    const store = new MemoryStore();
    const log = memoryLog();
    const w = writer(store, { retries: 1, maxBatch: 2, concurrency: 2 }, log);
    store.failures = 1000;
    const refused = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => w.enqueue(i)));
    expect(refused.every((r) => r.status === 'rejected')).toBe(true);
    expect(store.calls).toBe(20); // 10 batches, each tried twice
    store.failures = 0;
    expect(await w.enqueue(99)).toBe('stored:99');
    expect(log.lines.map((l) => `${l.level} ${l.msg}`)).toEqual([
      'warn batch writes failing; retrying with back-off (logged once until a write succeeds)',
      'error batch write failed after its retries; refusing its items UNAVAILABLE (logged once until a write succeeds)',
      'info batch writes succeed again',
    ]);
  });

  it('refuses with a retryable UNAVAILABLE once the retries are exhausted, and keeps working afterwards', async () => {
    const store = new MemoryStore();
    const log = memoryLog();
    const w = writer(store, { retries: 2 }, log);
    store.failures = 100;
    const refused = await Promise.allSettled([w.enqueue(1), w.enqueue(2)]);
    expect(store.calls).toBe(3);
    for (const r of refused) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as AppError;
      expect(err).toBeInstanceOf(AppError);
      expect(err.toBody()).toMatchObject({ code: 'UNAVAILABLE', retryAfterMs: expect.any(Number) });
      expect(err.toBody().retryAfterMs).toBeGreaterThan(0);
    }
    expect(store.committed).toEqual([]);
    expect(log.lines.some((l) => l.level === 'error')).toBe(true);
    expect(w.pending).toBe(0);
    store.failures = 0;
    expect(await w.enqueue(3)).toBe('stored:3');
  });

  it('refuses new items with UNAVAILABLE while maxPending are buffered or in flight', async () => {
    const store = new MemoryStore(80);
    const w = writer(store, { maxPending: 3, flushIntervalMs: 20, maxBatch: 100 });
    const accepted = [w.enqueue(1), w.enqueue(2), w.enqueue(3)];
    const over = w.enqueue(4);
    await expect(over).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await over.catch((e: AppError) => expect(e.toBody().retryAfterMs).toBeGreaterThan(0));
    // Still full while the batch is being written.
    await new Promise((r) => setTimeout(r, 30));
    expect(w.pending).toBe(3);
    await expect(w.enqueue(5)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await Promise.all(accepted)).toEqual(['stored:1', 'stored:2', 'stored:3']);
    expect(w.pending).toBe(0);
    expect(await w.enqueue(6)).toBe('stored:6');
    expect(store.committed).toEqual([1, 2, 3, 6]);
  });

  it('close() drains everything buffered and in flight, then refuses new items', async () => {
    const store = new MemoryStore(10);
    const w = writer(store, { flushIntervalMs: 1000, maxBatch: 7, concurrency: 1 });
    const all = Array.from({ length: 30 }, (_, i) => w.enqueue(i));
    expect(store.committed).toEqual([]);
    await w.close();
    expect(store.committed.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(await Promise.all(all)).toEqual(Array.from({ length: 30 }, (_, i) => `stored:${i}`));
    expect(w.pending).toBe(0);
    await expect(w.enqueue(99)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(store.committed).not.toContain(99);
  });

  it('flushNow() writes the buffer without waiting for the interval', async () => {
    const store = new MemoryStore();
    const w = writer(store, { flushIntervalMs: 10_000 });
    const p = w.enqueue(1);
    const started = Date.now();
    await w.flushNow();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(store.committed).toEqual([1]);
    expect(await p).toBe('stored:1');
    // Nothing buffered: a flush is free.
    const calls = store.calls;
    await w.flushNow();
    expect(store.calls).toBe(calls);
  });
});

describe('flushNow under a steady stream', () => {
  it('returns once what was buffered before the call is written, without waiting for later items', async () => {
    const written: number[] = [];
    const w = new BatchWriter<number, number>(
      'stream',
      async (items) => {
        await new Promise((r) => setTimeout(r, 20));
        written.push(...items);
        return items;
      },
      memoryLog(),
      { flushIntervalMs: 5, maxBatch: 10, concurrency: 2 },
    );
    const before = Array.from({ length: 5 }, (_, i) => w.enqueue(i));
    // A producer that never stops while the flush is awaited.
    let n = 100;
    const stream = setInterval(() => void w.enqueue(n++), 1);
    try {
      const t0 = Date.now();
      await w.flushNow();
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(written).toEqual(expect.arrayContaining([0, 1, 2, 3, 4]));
      expect(await Promise.all(before)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      clearInterval(stream);
      await w.close();
    }
  });
});
