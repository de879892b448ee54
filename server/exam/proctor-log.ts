import type { FastifyBaseLogger } from 'fastify';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Attempt, Exam, ProctorEvent, User } from '../../entities/index.js';
import { BatchWriter, type BatchWriterOptions } from './batch-writer.js';

export interface AuditEntry {
  examId: number;
  attemptId: number | null;
  /** The user who acted (student for browser signals, invigilator for actions); null for the system. */
  actorId: number | null;
  type: string;
  detail: Record<string, unknown> | null;
  at: Date;
}

/**
 * The audit log writer. Entries are batched like answers, but written through MikroORM's unit of work:
 * one forked EntityManager per batch, one flush, which MikroORM sends as a multi-row INSERT. Volume is
 * low next to answers, so the ORM's convenience costs nothing that matters here.
 */
export class ProctorLog {
  private readonly batches: BatchWriter<AuditEntry, void>;

  constructor(
    private readonly orm: MikroORM,
    log: FastifyBaseLogger,
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
    const em = this.orm.em.fork();
    for (const e of entries) {
      em.create(ProctorEvent, {
        exam: em.getReference(Exam, e.examId),
        attempt: e.attemptId === null ? null : em.getReference(Attempt, e.attemptId),
        actor: e.actorId === null ? null : em.getReference(User, e.actorId),
        type: e.type,
        detail: e.detail,
        at: e.at,
      });
    }
    await em.flush();
    return entries.map(() => undefined);
  }
}
