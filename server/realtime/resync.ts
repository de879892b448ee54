import type { FastifyBaseLogger } from 'fastify';
import type { AttemptStore } from '../db/attempt-store.js';
import type { ExamStore } from '../db/exam-store.js';
import { EXAM_EVENTS, type AttemptEndedEvent } from '../protocol.js';
import type { AttemptClocks } from './attempt-clocks.js';
import type { FeedHub } from './feed.js';
import { attemptRoom, examRoom } from './rooms.js';
import type { ExamNamespace, InvigilatorNamespace } from './socket-server.js';

export interface NodeResyncDeps {
  examNsp: ExamNamespace;
  invigilatorNsp: InvigilatorNamespace;
  clocks: AttemptClocks;
  feeds: FeedHub;
  attempts: Pick<AttemptStore, 'states'>;
  exams: Pick<ExamStore, 'invigilatorsOf'>;
  log: FastifyBaseLogger;
  /** How often, besides each return of the Redis subscriber. */
  intervalMs: number;
}

const ENDED_REASON: Record<string, string> = { submitted: 'submitted', expired: 'deadline', terminated: 'terminated' };
const EXAM_ROOM = /^exam:(\d+)$/;

/**
 * What this node remembers (deadlines and status in each socket's attempt contexts, the timers, who
 * sits in each exam's invigilator room) arrives from other nodes as fire-and-forget messages through
 * Redis; one lost while Redis was away would stay wrong for good. The database is the authority: this
 * re-reads it, every `intervalMs` and whenever the adapter's subscriber is back, and repairs the
 * node's caches: a moved deadline reaches the student's timer (`timer` reason `change`), an attempt
 * that ended is told (`attempt:ended`), an invigilator no longer assigned leaves the exam's room and
 * loses its feeds (admins keep access). Two statements per run, whatever the number of sockets.
 */
export class NodeResync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly deps: NodeResyncDeps) {}

  start(): void {
    this.timer ??= setInterval(() => void this.run(), this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass (a pass already under way is joined, not doubled). Never throws: a failed pass is logged and the next one repairs. */
  run(): Promise<void> {
    this.running ??= Promise.all([this.attempts(), this.invigilators()])
      .then(() => undefined)
      .catch((err: unknown) => this.deps.log.warn({ err }, 'resync from the database failed; the next pass retries'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async attempts(): Promise<void> {
    const { examNsp, clocks } = this.deps;
    const contexts = [...examNsp.sockets.values()].flatMap((s) => [...(s.data.attempts?.values() ?? [])]);
    const open = contexts.filter((c) => c.status === 'in_progress');
    if (open.length === 0) return;
    const states = await this.deps.attempts.states([...new Set(open.map((c) => c.attemptId))]);
    const moved = new Map<number, { deadlineAt: Date; graceMs: number }>();
    const ended = new Map<number, AttemptEndedEvent>();
    const now = Date.now();
    for (const ctx of open) {
      const db = states.get(ctx.attemptId);
      if (!db) continue;
      if (db.status !== 'in_progress') {
        ctx.status = db.status;
        ended.set(ctx.attemptId, { attemptId: ctx.attemptId, status: db.status, reason: ENDED_REASON[db.status] ?? db.status });
        continue;
      }
      const at = db.deadlineAt.getTime();
      // The context may be right already (an answer re-read it) while the timer still runs to the old deadline.
      const clockAt = clocks.deadlineOf(ctx.attemptId)?.getTime();
      if (at !== ctx.deadlineAt.getTime() || (clockAt !== undefined ? clockAt !== at : at > now)) {
        ctx.deadlineAt = db.deadlineAt;
        moved.set(ctx.attemptId, { deadlineAt: db.deadlineAt, graceMs: ctx.graceMs });
      }
    }
    for (const [attemptId, { deadlineAt, graceMs }] of moved) {
      clocks.track(attemptId, deadlineAt, graceMs);
      clocks.update(attemptId, deadlineAt);
    }
    for (const [attemptId, ev] of ended) {
      clocks.drop(attemptId);
      examNsp.local.to(attemptRoom(attemptId)).emit(EXAM_EVENTS.ended, ev);
    }
    if (moved.size || ended.size) this.deps.log.info({ moved: moved.size, ended: ended.size }, 'resync: repaired attempts this node had missed');
  }

  private async invigilators(): Promise<void> {
    const { invigilatorNsp: nsp, feeds } = this.deps;
    const examIds = new Set(feeds.watchedExams());
    for (const room of nsp.adapter.rooms.keys()) {
      const m = EXAM_ROOM.exec(room);
      if (m) examIds.add(Number(m[1]));
    }
    if (examIds.size === 0) return;
    const assignments = await this.deps.exams.invigilatorsOf([...examIds]);
    for (const [examId, assigned] of assignments) {
      for (const id of nsp.adapter.rooms.get(examRoom(examId)) ?? []) {
        const user = nsp.sockets.get(id)?.data.user;
        if (user && user.role !== 'admin' && !assigned.has(user.id)) void nsp.sockets.get(id)?.leave(examRoom(examId));
      }
      feeds.revoke(examId, assigned);
    }
  }
}
