import type { AnswerRow, AnswerStore } from '../db/answer-store.js';
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
export class AnswerWriter {
  private readonly batches: BatchWriter<AnswerInput, AnswerOutcome>;

  constructor(
    private readonly store: AnswerBatchStore,
    log: Logger,
    opts: Partial<BatchWriterOptions> = {},
  ) {
    this.batches = new BatchWriter('answers', (items) => this.write(items), log, opts);
  }

  enqueue(answer: AnswerInput): Promise<AnswerOutcome> {
    return this.batches.enqueue(answer);
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
    const byAttempt = await this.store.writeBatch(rows);
    return items.map((a) => byAttempt.get(a.attemptId) ?? 'missing');
  }
}
