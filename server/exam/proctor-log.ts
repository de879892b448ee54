import type { AuditRow, AuditStore } from '../db/audit-store.js';
import { BatchWriter, type BatchWriterOptions } from './batch-writer.js';
import type { Logger } from './logger.js';

/** An audit entry; `actorId` is the user who acted (student for browser signals, invigilator for actions), null for the system. */
export type AuditEntry = AuditRow;

/**
 * The audit log writer. Entries are batched like answers; each batch is one unit of work in the store
 * (one flush, a multi-row INSERT), and a caller's promise settles once its entry is committed.
 */
export class ProctorLog {
  private readonly batches: BatchWriter<AuditEntry, void>;

  constructor(
    private readonly store: AuditStore,
    log: Logger,
    opts: Partial<BatchWriterOptions> = {},
  ) {
    this.batches = new BatchWriter('audit', (entries) => this.write(entries), log, { flushIntervalMs: 20, ...opts });
  }

  /** Resolves once the entry is committed. */
  record(entry: AuditEntry): Promise<void> {
    return this.batches.enqueue(entry);
  }

  flush(): Promise<void> {
    return this.batches.flushNow();
  }

  close(): Promise<void> {
    return this.batches.close();
  }

  private async write(entries: AuditEntry[]): Promise<void[]> {
    await this.store.append(entries);
    return entries.map(() => undefined);
  }
}
