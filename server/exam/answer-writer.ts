import { AppError } from '../errors.js';
import type { AnswerRow, AnswerStore } from '../db/answer-store.js';
import type { Failpoint } from '../failpoints.js';
import { BatchWriter, type BatchWriterOptions } from './batch-writer.js';
import type { Logger } from './logger.js';

export type AnswerInput = AnswerRow;

/** Where batches go: the persistence layer's AnswerStore (or, in the benchmark, one of its other paths). */
export type AnswerBatchStore = Pick<AnswerStore, 'writeBatch'>;

/**
 * What became of an answer once its batch committed: `ok` (stored, or a newer seq already was),
 * `closed` (the attempt had ended), `late` (past deadline + grace), `missing` (no such attempt).
 */
export type AnswerOutcome = 'ok' | 'closed' | 'late' | 'missing';

/**
 * The durable path of every answer: callers `enqueue` and get the outcome only after the batch that
 * holds their answer committed. Several answers of one attempt to one question within a batch are
 * folded to the highest seq first (one row can be written once per statement), and the batch goes to
 * the store in key order (attempt, question), so concurrent batches never deadlock.
 */
/** Answers of one attempt that may wait in a node's buffer at once: above the answer rate limit's burst (a reconnect re-sends its outbox at once), far below the node's whole buffer. */
export const MAX_PENDING_PER_ATTEMPT = 500;

export class AnswerWriter {
  private readonly batches: BatchWriter<AnswerInput, AnswerOutcome>;

  constructor(
    private readonly store: AnswerBatchStore,
    log: Logger,
    opts: Partial<BatchWriterOptions> = {},
    /** Fault tests only (`FAILPOINTS`): crashes the process before a batch's statement or after its commit. */
    private readonly failpoint?: Failpoint,
  ) {
    this.batches = new BatchWriter('answers', (items) => this.write(items), log, opts);
  }

  /** Answers of each attempt buffered or being written. */
  private readonly perAttempt = new Map<number, number>();

  /**
   * Buffers an answer; resolves once it is committed. One attempt may have at most
   * {@link MAX_PENDING_PER_ATTEMPT} answers waiting, its fair share of the node's buffer: a flooding
   * client cannot fill the buffer every other student's answers go through.
   */
  enqueue(answer: AnswerInput): Promise<AnswerOutcome> {
    const waiting = this.perAttempt.get(answer.attemptId) ?? 0;
    if (waiting >= MAX_PENDING_PER_ATTEMPT) {
      return Promise.reject(new AppError('UNAVAILABLE', 'Too many answers of this attempt are waiting to be written; retry shortly', { retryAfterMs: 500 }));
    }
    this.perAttempt.set(answer.attemptId, waiting + 1);
    return this.batches.enqueue(answer).finally(() => {
      const left = (this.perAttempt.get(answer.attemptId) ?? 1) - 1;
      if (left > 0) this.perAttempt.set(answer.attemptId, left);
      else this.perAttempt.delete(answer.attemptId);
    });
  }

  get pending(): number {
    return this.batches.pending;
  }

  /** Writes everything buffered and waits for it (before a submit, so the score sees every answer). */
  flush(): Promise<void> {
    return this.batches.flushNow();
  }

  close(): Promise<void> {
    return this.batches.close();
  }

  private async write(items: AnswerInput[]): Promise<AnswerOutcome[]> {
    const latest = new Map<string, AnswerInput>();
    for (const a of items) {
      const k = `${a.attemptId}:${a.questionId}`;
      const seen = latest.get(k);
      if (!seen || a.seq > seen.seq) latest.set(k, a);
    }
    const rows = [...latest.values()].sort((x, y) => x.attemptId - y.attemptId || x.questionId - y.questionId);
    this.failpoint?.('answers:before-write');
    const byAttempt = await this.store.writeBatch(rows);
    // Committed; the batch's callers (and their acks) are answered only once this returns.
    this.failpoint?.('answers:after-commit');
    return items.map((a) => byAttempt.get(a.attemptId) ?? 'missing');
  }
}
