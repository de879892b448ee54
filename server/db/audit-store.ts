import type { EntityManager } from '@mikro-orm/postgresql';
import { Attempt, Exam, ProctorEvent, User } from '../../entities/index.js';
import { query } from './sql.js';

/** One audit log entry as the domain writes it. */
export interface AuditRow {
  examId: number;
  attemptId: number | null;
  /** The user who acted; null for the system. */
  actorId: number | null;
  type: string;
  detail: Record<string, unknown> | null;
  at: Date;
}

/** Who asked for an invigilator action, and the client's name for the request (its idempotency key). */
export interface ActionAuthor {
  actorId: number;
  requestId: string | null;
}

/** An invigilator action as its audit entry recorded it (what a retried request is answered from). */
export interface RecordedAction {
  examId: number;
  attemptId: number | null;
  type: string;
  detail: Record<string, unknown> | null;
}

const REQUEST_ID_CONSTRAINT = 'proctor_events_actor_id_request_id_unique';

/** Thrown when an action's audit entry names a request id its actor already used: the action was rolled back. */
export class DuplicateRequest extends Error {
  constructor() {
    super('This request id was already used by this actor');
    this.name = 'DuplicateRequest';
  }
}

/** Rethrows a unique violation of (actor, request id) as {@link DuplicateRequest}, anything else as it is. */
export function rethrowDuplicateRequest(err: unknown): never {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, constraint } = e as { code?: unknown; constraint?: unknown };
    if (code === '23505' && constraint === REQUEST_ID_CONSTRAINT) throw new DuplicateRequest();
  }
  throw err;
}

/** One audit entry of an action, written in one statement with its author and request id. */
const APPEND_ACTION = `
insert into proctor_events (exam_id, attempt_id, type, detail, at, actor_id, request_id)
values ($1, $2, $3, $4::jsonb, now(), $5, $6)`;

const FIND_ACTION = `
select exam_id, attempt_id, type, detail from proctor_events where actor_id = $1 and request_id = $2`;

/** The audit log (`proctor_events`). */
export class AuditStore {
  constructor(private readonly em: EntityManager) {}

  /**
   * Appends entries in one unit of work: one forked EntityManager, one flush, which MikroORM sends as
   * a multi-row INSERT. Volume is low next to answers, so the ORM's convenience costs nothing here.
   */
  async append(entries: readonly AuditRow[]): Promise<void> {
    const em = this.em.fork();
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
  }

  /** Writes the audit entry of an action that is nothing else (a message): one statement, atomic by itself. */
  async appendAction(entry: Omit<AuditRow, 'actorId' | 'at'> & ActionAuthor): Promise<void> {
    await query(this.em.fork(), APPEND_ACTION, [
      entry.examId,
      entry.attemptId,
      entry.type,
      entry.detail === null ? null : JSON.stringify(entry.detail),
      entry.actorId,
      entry.requestId,
    ]).catch(rethrowDuplicateRequest);
  }

  /** The action an actor's request id already names, if any. */
  async findAction(actorId: number, requestId: string): Promise<RecordedAction | null> {
    const [r] = await query<{ exam_id: number; attempt_id: number | null; type: string; detail: Record<string, unknown> | null }>(
      this.em.fork(),
      FIND_ACTION,
      [actorId, requestId],
    );
    return r ? { examId: r.exam_id, attemptId: r.attempt_id, type: r.type, detail: r.detail } : null;
  }
}
