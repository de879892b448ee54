import { AppError } from '../errors.js';
import type { Logger } from './logger.js';

/** Tuning of a {@link BatchWriter}; every field has a default fit for one 2-core node. */
export interface BatchWriterOptions {
  /** Longest an item waits in the buffer before a flush starts. @default 5 */
  flushIntervalMs: number;
  /** A flush starts as soon as this many items are buffered; also the largest batch. @default 1000 */
  maxBatch: number;
  /** Items buffered or in flight beyond which `enqueue` refuses with `UNAVAILABLE`. @default 20000 */
  maxPending: number;
  /** Flushes in flight at once. @default 2 */
  concurrency: number;
  /** Retries (with exponential back-off) of a failed flush before its items are refused. @default 5 */
  retries: number;
  /**
   * Says whether a failed write may succeed if tried again (the store was unreachable: retried with
   * back-off, then `UNAVAILABLE`), or failed on its data (some item the store refuses: the batch is
   * split in halves, each written on its own, down to the single items at fault, which alone get the
   * error; their neighbours are written). @default every failure is retryable (never split)
   */
  retryable: (err: unknown) => boolean;
}

export const DEFAULT_BATCH_OPTIONS: BatchWriterOptions = {
  flushIntervalMs: 5,
  maxBatch: 1000,
  maxPending: 20_000,
  concurrency: 2,
  retries: 5,
  retryable: () => true,
};

interface Pending<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects items from many callers and writes them in batches: `write(items)` runs once per batch and
 * returns one result per item, in order. A caller's promise settles only after the batch holding its
 * item was written (for a database writer: committed), never before. A failed batch is retried with
 * back-off; after `retries` its callers get a retryable `UNAVAILABLE` and nothing of it was written
 * unless `write` committed (which the caller's re-send then finds harmless). A batch refused for its
 * data (see {@link BatchWriterOptions.retryable}) is bisected so that only its bad items fail.
 */
export class BatchWriter<I, R> {
  private buffer: Pending<I, R>[] = [];
  private inFlight = 0;
  private readonly inFlightDone = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly opts: BatchWriterOptions;
  /**
   * Since the first retryable failure, until a write succeeds (a database outage): logged when it starts,
   * at its first refusal and when it ends, with counts, not once per batch (at thousands of students
   * an outage fails dozens of batches a second).
   */
  private failing: { since: number; failures: number; refused: number; refusalLogged: boolean } | null = null;

  constructor(
    private readonly name: string,
    private readonly write: (items: I[]) => Promise<R[]>,
    private readonly log: Logger,
    opts: Partial<BatchWriterOptions> = {},
  ) {
    this.opts = { ...DEFAULT_BATCH_OPTIONS, ...opts };
  }

  /** Items buffered or being written. */
  get pending(): number {
    return this.buffer.length + this.inFlight;
  }

  enqueue(item: I): Promise<R> {
    if (this.closed) return Promise.reject(new AppError('UNAVAILABLE', 'The server is shutting down', { retryAfterMs: 1000 }));
    if (this.pending >= this.opts.maxPending) {
      return Promise.reject(new AppError('UNAVAILABLE', 'The server is busy writing; retry shortly', { retryAfterMs: 500 }));
    }
    return new Promise<R>((resolve, reject) => {
      this.buffer.push({ item, resolve, reject });
      if (this.buffer.length >= this.opts.maxBatch) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), this.opts.flushIntervalMs);
    });
  }

  /**
   * Writes everything buffered now and waits until it, and every batch already in flight, is done.
   * Items enqueued meanwhile are not waited for: under a steady stream of answers (the last minute of
   * an exam) a submit must not wait for the buffer ever to be empty.
   */
  async flushNow(): Promise<void> {
    this.kick(true);
    await Promise.all([...this.inFlightDone]);
  }

  /** Refuses new items and drains the buffer (SIGTERM path). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushNow();
  }

  /** Starts batches while flush slots are free (all of the buffer when `force`). */
  private kick(force = false): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.buffer.length > 0 && (force || this.inFlightDone.size < this.opts.concurrency)) {
      const batch = this.buffer.splice(0, this.opts.maxBatch);
      this.inFlight += batch.length;
      const done: Promise<void> = this.run(batch).finally(() => {
        this.inFlight -= batch.length;
        this.inFlightDone.delete(done);
        // What arrived while every slot was busy has waited long enough: it goes out now.
        if (this.buffer.length > 0) this.kick();
      });
      this.inFlightDone.add(done);
    }
  }

  private async run(batch: Pending<I, R>[]): Promise<void> {
    const items = batch.map((p) => p.item);
    for (let attempt = 0; ; attempt++) {
      try {
        const results = await this.write(items);
        batch.forEach((p, i) => p.resolve(results[i]!));
        if (this.failing) {
          const { since, failures, refused } = this.failing;
          this.failing = null;
          this.log.info({ writer: this.name, failedWrites: failures, refusedItems: refused, forMs: Date.now() - since }, 'batch writes succeed again');
        }
        return;
      } catch (err) {
        if (!this.opts.retryable(err)) return this.split(batch, err);
        const delay = Math.min(50 * 2 ** attempt, 2_000);
        if (!this.failing) {
          this.failing = { since: Date.now(), failures: 0, refused: 0, refusalLogged: false };
          this.log.warn(
            { err, writer: this.name, items: batch.length, retryInMs: delay, retries: this.opts.retries },
            'batch writes failing; retrying with back-off (logged once until a write succeeds)',
          );
        }
        this.failing.failures++;
        if (attempt >= this.opts.retries) {
          this.failing.refused += batch.length;
          if (!this.failing.refusalLogged) {
            this.failing.refusalLogged = true;
            this.log.error({ err, writer: this.name, items: batch.length }, 'batch write failed after its retries; refusing its items UNAVAILABLE (logged once until a write succeeds)');
          }
          const refusal = new AppError('UNAVAILABLE', 'Could not save right now; retry', { retryAfterMs: 1000 });
          batch.forEach((p) => p.reject(refusal));
          return;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * A write refused for its data: one bad item must not fail its neighbours. The halves are written
   * one after the other (bisection: about 2·log2(n) writes for one bad item in n), and only an item
   * refused on its own gets the error. A half that then fails as unreachable is retried as usual.
   */
  private async split(batch: Pending<I, R>[], err: unknown): Promise<void> {
    if (batch.length === 1) {
      this.log.error({ err, writer: this.name }, 'batch write: an item the store refuses; refusing it alone');
      batch[0]!.reject(err);
      return;
    }
    this.log.warn({ err, writer: this.name, items: batch.length }, 'batch write refused for its data; splitting it');
    const mid = Math.ceil(batch.length / 2);
    await this.run(batch.slice(0, mid));
    await this.run(batch.slice(mid));
  }
}
