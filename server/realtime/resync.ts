import type { FastifyBaseLogger } from 'fastify';
import type { ExamStore } from '../db/exam-store.js';
import type { RosterQueries } from '../db/roster-queries.js';
import {
  EXAM_EVENTS,
  FLAG_EVENT_TYPES,
  INVIGILATOR_EVENTS,
  type AttemptEndedEvent,
  type InvigilatorDelivery,
  type RosterUpdate,
} from '../protocol.js';
import type { AttemptClocks } from './attempt-clocks.js';
import type { FeedHub } from './feed.js';
import type { Presence } from './presence.js';
import { attemptRoom, examRoom } from './rooms.js';
import type { ExamNamespace, InvigilatorNamespace } from './socket-server.js';

export interface NodeResyncDeps {
  examNsp: ExamNamespace;
  invigilatorNsp: InvigilatorNamespace;
  clocks: AttemptClocks;
  feeds: FeedHub;
  /** Attempt states (with end reasons) and the live roster rows of watched exams. */
  roster: Pick<RosterQueries, 'attemptStates' | 'liveRows'>;
  exams: Pick<ExamStore, 'invigilatorsOf'>;
  /** Who is connected (unknown while Redis is unreachable or just back: the push then leaves `connected` out). */
  presence: Pick<Presence, 'onlineByExam' | 'settled'>;
  log: FastifyBaseLogger;
  /** How often, besides each return of the Redis subscriber. */
  intervalMs: number;
  /** The time deadlines are compared with: the database's, as everywhere. @default Date.now */
  now?: () => number;
}

const EXAM_ROOM = /^exam:(\d+)$/;
/** The fields of a roster row a pass pushes (besides the ids). */
const LIVE_FIELDS = ['status', 'connected', 'answered', 'flags', 'deadlineAt', 'remainingMs'] as const;

/**
 * What this node remembers (deadlines and status in each socket's attempt contexts, the timers, who
 * sits in each exam's invigilator room) arrives from other nodes as fire-and-forget messages through
 * Redis; one lost while Redis was away would stay wrong for good. The database is the authority: this
 * re-reads it, every `intervalMs` and whenever the adapter's subscriber is back, and repairs the
 * node's caches: a moved deadline reaches the student's timer (`timer` reason `change`), an attempt
 * that ended is told (`attempt:ended`, with the reason it ended for: the invigilator's termination
 * reason, `forced`, `deadline`, `submitted`), an invigilator no longer assigned leaves the exam's room
 * and loses its feeds (admins keep access), and every console and feed still watching an exam on this
 * node gets the exam's whole roster as one `roster:update` (every row's status, progress, deadline and,
 * when presence is reachable, `connected`), so a status, progress or presence change whose message was
 * lost is shown as the database says. At most three statements per run (attempt states, assignments,
 * roster rows of every watched exam), whatever the number of sockets and exams, plus one Redis round trip.
 */
export class NodeResync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /**
   * Ended attempts with sockets on this node whose `attempt:ended` reached them (through the bus, see
   * {@link noteEnded}, or from a pass). A context that shows an ended status without being here was
   * ended silently — its status corrected by an answer's re-read or refusal while the message was
   * lost — and is told by the next pass. Pruned of attempts without sockets here at every pass.
   */
  private readonly told = new Set<number>();

  /**
   * Roster fields delivered live to this node's consoles while a pass reads (exam:student -> fields),
   * collected by {@link noteDelivered}: fresher than what the pass read, so its push leaves them out.
   */
  private touched: Map<string, Set<string>> | null = null;

  constructor(private readonly deps: NodeResyncDeps) {}

  /** An invigilator event delivered on this node (the bus's `invigilators`). */
  noteDelivered(d: InvigilatorDelivery): void {
    if (!this.touched || d.event !== INVIGILATOR_EVENTS.rosterUpdate) return;
    for (const u of Array.isArray(d.payload) ? d.payload : [d.payload]) {
      const key = `${d.examId}:${u.student.id}`;
      const fields = this.touched.get(key) ?? new Set<string>();
      for (const f of LIVE_FIELDS) if (u[f] !== undefined) fields.add(f);
      this.touched.set(key, fields);
    }
  }

  /** An attempt's end was delivered to this node's sockets (the bus's `ended`): nothing for a pass to tell. */
  noteEnded(attemptId: number): void {
    if (this.deps.examNsp.adapter.rooms.has(attemptRoom(attemptId))) this.told.add(attemptId);
  }

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
    const rooms = examNsp.adapter.rooms;
    for (const id of this.told) if (!rooms.has(attemptRoom(id))) this.told.delete(id);
    const contexts = [...examNsp.sockets.values()].flatMap((s) => [...(s.data.attempts?.values() ?? [])]);
    // Open ones, and ended ones whose end was never told here.
    const open = contexts.filter((c) => c.status === 'in_progress' || !this.told.has(c.attemptId));
    if (open.length === 0) return;
    const states = await this.deps.roster.attemptStates([...new Set(open.map((c) => c.attemptId))]);
    const moved = new Map<number, { deadlineAt: Date; graceMs: number }>();
    const ended = new Map<number, AttemptEndedEvent>();
    const now = (this.deps.now ?? Date.now)();
    for (const ctx of open) {
      const db = states.get(ctx.attemptId);
      if (!db) continue;
      if (db.status !== 'in_progress') {
        ctx.status = db.status;
        ended.set(ctx.attemptId, { attemptId: ctx.attemptId, status: db.status, reason: db.reason ?? db.status });
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
      // The bus may have told it while the statement ran.
      if (this.told.has(attemptId)) continue;
      this.told.add(attemptId);
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
    const ids = [...examIds];
    this.touched = new Map();
    try {
      await this.pushRosters(ids);
    } finally {
      this.touched = null;
    }
  }

  /**
   * Assignments first (removed invigilators leave before the push), then every watched exam's rows
   * and, last (the freshest read), presence; what consoles were sent live meanwhile is left out.
   */
  private async pushRosters(ids: number[]): Promise<void> {
    const { invigilatorNsp: nsp, feeds, presence } = this.deps;
    const [assignments, live] = await Promise.all([this.deps.exams.invigilatorsOf(ids), this.deps.roster.liveRows(ids, FLAG_EVENT_TYPES)]);
    for (const [examId, assigned] of assignments) {
      for (const id of nsp.adapter.rooms.get(examRoom(examId)) ?? []) {
        const user = nsp.sockets.get(id)?.data.user;
        if (user && user.role !== 'admin' && !assigned.has(user.id)) void nsp.sockets.get(id)?.leave(examRoom(examId));
      }
      feeds.revoke(examId, assigned);
    }
    const online = presence.settled() ? await presence.onlineByExam(ids) : null;
    const byExam = new Map<number, RosterUpdate[]>(ids.map((id) => [id, []]));
    const now = live.dbNow.getTime();
    for (const { examId, studentId, attempt } of live.rows) {
      const status = attempt?.status ?? 'not_started';
      const connected = online?.get(examId)?.has(studentId);
      const row: RosterUpdate = {
        attemptId: attempt?.id ?? null,
        student: { id: studentId },
        examId,
        status,
        ...(connected === undefined ? {} : { connected }),
        answered: attempt?.answered ?? 0,
        flags: attempt?.flags ?? 0,
        deadlineAt: attempt ? attempt.deadlineAt.toISOString() : null,
        remainingMs: status === 'in_progress' && attempt ? Math.max(0, attempt.deadlineAt.getTime() - now) : null,
      };
      for (const f of this.touched?.get(`${examId}:${studentId}`) ?? []) delete row[f as (typeof LIVE_FIELDS)[number]];
      byExam.get(examId)?.push(row);
    }
    for (const [examId, rows] of byExam) {
      if (rows.length === 0) continue;
      nsp.local.to(examRoom(examId)).emit(INVIGILATOR_EVENTS.rosterUpdate, rows);
      feeds.deliver({ examId, event: INVIGILATOR_EVENTS.rosterUpdate, payload: rows });
    }
  }
}
