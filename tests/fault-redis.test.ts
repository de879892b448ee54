/**
 * Redis restarted mid-exam, and Redis down for 60 s (issue 9), with two real child nodes (`npm start`'s
 * server as child processes) on one database and a Redis of this file's own (a `redis-server` child,
 * killed and started again): students stream answers on node A, an invigilator console watches on node B.
 *
 * The oracle: every answer a client saw acknowledged is in the database, once, with the highest
 * acknowledged seq; no node dies; within 10 s of Redis's return fan-out works again and the console on B
 * equals the database (status, progress, deadline) and presence (who is connected); question sets come
 * from the database once per node (single-flight), never once per student; deadlines are enforced during
 * the outage (answers refused after deadline + grace, the sweeper ends the attempt); the node's memory
 * stays flat while Redis is away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, processUsage, scrapeMetrics, type ServerNode } from '../loadtest/nodes.js';
import {
  EXAM_EVENTS,
  FLAG_EVENT_TYPES,
  INVIGILATOR_EVENTS,
  INVIGILATOR_NAMESPACE,
  type AttemptEndedEvent,
  type AttemptStartResult,
  type RosterRow,
  type RosterUpdate,
} from '../server/protocol.js';
import { createTestApp, examBody, type TestApp } from './helpers/app.js';
import { startChildNode } from './helpers/child-node.js';
import { afterFile } from './helpers/db.js';
import { createExam, createUsers, questionsOf, type TestUser } from './helpers/exam.js';
import { asList, collect, sleep, waitFor, type Received } from './helpers/nodes.js';
import { sql } from './helpers/pg.js';
import { connectSocket, ok, request, type InvigilatorClientSocket, type StudentSocket } from './helpers/sockets.js';

const PREFIX = `faultC-${process.pid}:`;
/** Long enough that what repairs the consoles on Redis's return is the return itself, not a periodic pass. */
const RESYNC_MS = 20_000;
const OUTAGE_MS = 60_000;
/** What the issue allows between Redis's return and a correct console. */
const BACK_WITHIN_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// A Redis of this file's own

/** One line of RESP to 127.0.0.1:`port`; resolves with the first reply line, rejects when nothing answers. */
function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs);
    let reply = '';
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) socket.end();
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply.split('\r\n')[0] ?? '');
    });
  });
}

/** `redis-server` on a port of its own, without persistence unless asked (`SHUTDOWN SAVE`), stopped after the file. */
class OwnRedis {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<OwnRedis> {
    const dir = await mkdtemp(path.join(tmpdir(), 'faultC-redis-'));
    const redis = new OwnRedis(await freePort(), dir);
    afterFile(async () => {
      await redis.kill();
      await rm(dir, { recursive: true, force: true });
    });
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (loading the dump a `shutdownSave` left, if any); resolves once it answers PING. */
  async up(): Promise<number> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--dbfilename', 'dump.rdb'];
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    await waitFor('redis-server answering', async () => (await redisCommand(this.port, 'PING').catch(() => '')) === '+PONG', 10_000, 20);
    return Date.now();
  }

  /** SIGKILL: everything in memory is gone. Resolves once the process is gone. */
  async kill(): Promise<number> {
    const proc = this.proc;
    this.proc = null;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGKILL');
      await exited;
    }
    return Date.now();
  }

  /** `SHUTDOWN SAVE`: Redis writes its data to disk and exits (a maintenance restart that keeps the data). */
  async shutdownSave(): Promise<number> {
    const proc = this.proc!;
    this.proc = null;
    const exited = once(proc, 'exit');
    await redisCommand(this.port, 'SHUTDOWN SAVE', 5000).catch(() => '');
    await exited;
    return Date.now();
  }
}

// ---------------------------------------------------------------------------------------------
// Students streaming answers, with a ledger of what each was told

interface Session {
  student: TestUser;
  socket: StudentSocket;
  started: AttemptStartResult;
  attemptId: number;
  ended: Received<AttemptEndedEvent>[];
}

/** Highest acknowledged seq per attempt and question (and its option): what the clients were promised. */
class Ledger {
  readonly acked = new Map<string, { attemptId: number; questionId: number; seq: number; optionId: number }>();
  /** Keys with a later seq sent whose ack never came (the stored seq may then be higher than the acked). */
  readonly unsettled = new Set<string>();
  readonly ackTimes: number[] = [];
  readonly refusals: { at: number; code: string }[] = [];

  record(attemptId: number, questionId: number, seq: number, optionId: number, res: { ok: boolean; code?: string } | null): void {
    const key = `${attemptId}:${questionId}`;
    if (res?.ok) {
      this.ackTimes.push(Date.now());
      if ((this.acked.get(key)?.seq ?? 0) < seq) this.acked.set(key, { attemptId, questionId, seq, optionId });
      if ((this.acked.get(key)?.seq ?? 0) >= seq) this.unsettled.delete(key);
    } else {
      this.unsettled.add(key);
      this.refusals.push({ at: Date.now(), code: res?.code ?? 'NO_ACK' });
    }
  }

  acksBetween(from: number, to: number): number {
    return this.ackTimes.filter((t) => t >= from && t < to).length;
  }

  /** Every acknowledged answer is stored, once (the primary key), with the highest acknowledged seq and its option. */
  async check(databaseUrl: string): Promise<number> {
    const attemptIds = [...new Set([...this.acked.values()].map((a) => a.attemptId))];
    const rows = await sql<{ attempt_id: number; question_id: number; seq: number; option_id: number | null; n: number }>(
      databaseUrl,
      `select attempt_id, question_id, max(seq) as seq, max(option_id) as option_id, count(*)::int as n
       from attempt_answers where attempt_id = any($1::int[]) group by attempt_id, question_id`,
      [attemptIds],
    );
    const stored = new Map(rows.map((r) => [`${r.attempt_id}:${r.question_id}`, r]));
    for (const [key, a] of this.acked) {
      const row = stored.get(key);
      expect(row, `acknowledged answer ${key} seq ${a.seq} is stored`).toBeDefined();
      expect(row!.n).toBe(1);
      if (this.unsettled.has(key)) {
        expect(row!.seq, key).toBeGreaterThanOrEqual(a.seq);
      } else {
        expect({ key, seq: row!.seq, optionId: row!.option_id }).toEqual({ key, seq: a.seq, optionId: a.optionId });
      }
    }
    return this.acked.size;
  }
}

/**
 * Each session answers every `everyMs` (seq 1, 2, … over its questions in turn) until `stop()` (or
 * `halt(session)`), its socket goes, its attempt ends, `maxSeq` answers or `maxMs`: bounded in count and time.
 */
function stream(sessions: Session[], ledger: Ledger, opts: { everyMs: number; maxSeq: number; maxMs: number }) {
  let stopped = false;
  const halted = new Set<Session>();
  const until = Date.now() + opts.maxMs;
  const loops = new Map(
    sessions.map((s, i) => [
      s,
      (async () => {
        const qs = questionsOf(s.started.exam);
        await sleep((i * 37) % opts.everyMs);
        for (let seq = 1; seq <= opts.maxSeq && !stopped && !halted.has(s) && Date.now() < until && s.ended.length === 0; seq++) {
          const q = qs[(seq + i) % qs.length]!;
          const optionId = q.options[(seq + i) % q.options.length]!.id;
          const res = await request(s.socket, EXAM_EVENTS.answer, { attemptId: s.attemptId, questionId: q.id, optionId, seq }, 5000).catch(() => null);
          // A socket this test closed on purpose takes its answer in flight with it: unsettled, not a refusal.
          if (!res && !s.socket.connected) {
            ledger.unsettled.add(`${s.attemptId}:${q.id}`);
            return;
          }
          ledger.record(s.attemptId, q.id, seq, optionId, res ? (res.ok ? { ok: true } : { ok: false, code: res.error.code }) : null);
          await sleep(opts.everyMs);
        }
      })(),
    ]),
  );
  return {
    /** Stops one session's loop after its request in flight, and waits for it. */
    async halt(s: Session): Promise<void> {
      halted.add(s);
      await loops.get(s);
    },
    /** Stops every loop after its request in flight, and waits for them. */
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(loops.values());
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A console as the invigilator page keeps it: the snapshot, then every `roster:update` applied

class ConsoleModel {
  readonly rows = new Map<number, RosterRow>();
  readonly updates: Received<RosterUpdate>[];

  constructor(
    readonly socket: InvigilatorClientSocket,
    readonly examId: number,
  ) {
    this.updates = [];
    // Listening before the snapshot, applied as they come (exactly what web/src/invigilator does).
    socket.on(INVIGILATOR_EVENTS.rosterUpdate, (u) => {
      const at = Date.now();
      for (const update of asList(u)) {
        if (update.examId !== undefined && update.examId !== this.examId) continue;
        this.updates.push({ at, payload: update });
        this.apply(update);
      }
    });
  }

  async watch(): Promise<RosterRow[]> {
    const { roster } = await ok(this.socket, INVIGILATOR_EVENTS.watch, { examId: this.examId });
    for (const row of roster) this.rows.set(row.student.id, { ...row });
    return roster;
  }

  private apply(u: RosterUpdate): void {
    const d = this.rows.get(u.student.id);
    if (!d) return;
    if (u.attemptId !== null && u.attemptId !== undefined) d.attemptId = u.attemptId;
    if (u.status !== undefined) d.status = u.status;
    if (u.connected !== undefined) d.connected = u.connected;
    if (u.answered !== undefined) d.answered = u.answered;
    if (u.flags !== undefined) d.flags = u.flags;
    if (u.deadlineAt !== undefined) d.deadlineAt = u.deadlineAt;
  }

  /** Waits (until `deadline`) for no differences; resolves with when, or with the differences left. */
  async converged(databaseUrl: string, connected: ReadonlySet<number>, deadline: number): Promise<{ at: number; differences: string[] }> {
    for (;;) {
      const differences = await this.differences(databaseUrl, connected);
      if (differences.length === 0 || Date.now() > deadline) return { at: Date.now(), differences };
      await sleep(250);
    }
  }

  /** Rows that differ from the database (status, progress, flags, deadline) and from who is connected. */
  async differences(databaseUrl: string, connected: ReadonlySet<number>): Promise<string[]> {
    const truth = await sql<{ student_id: number; attempt_id: number | null; status: string; deadline_at: Date | null; answered: number; flags: number }>(
      databaseUrl,
      `select e.student_id, a.id as attempt_id, coalesce(a.status, 'not_started') as status, a.deadline_at,
         (select count(*)::int from attempt_answers aa where aa.attempt_id = a.id and aa.option_id is not null) as answered,
         (select count(*)::int from proctor_events pe where pe.attempt_id = a.id and pe.type = any($2::text[])) as flags
       from enrollments e left join attempts a on a.exam_id = e.exam_id and a.student_id = e.student_id
       where e.exam_id = $1`,
      [this.examId, FLAG_EVENT_TYPES],
    );
    const out: string[] = [];
    for (const t of truth) {
      const row = this.rows.get(t.student_id);
      const want = {
        attemptId: t.attempt_id,
        status: t.status,
        answered: t.answered ?? 0,
        flags: t.flags ?? 0,
        deadlineAt: t.deadline_at ? new Date(t.deadline_at).toISOString() : null,
        connected: connected.has(t.student_id),
      };
      const got = row && {
        attemptId: row.attemptId,
        status: row.status,
        answered: row.answered,
        flags: row.flags,
        deadlineAt: row.deadlineAt,
        connected: row.connected,
      };
      if (JSON.stringify(got) !== JSON.stringify(want)) out.push(`student ${t.student_id}: console ${JSON.stringify(got)}, truth ${JSON.stringify(want)}`);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Memory of the child nodes: resident size from /proc, and the heap each retains (a full collection on
// SIGUSR2 first, see loadtest/gc-on-signal.mjs) from its /metrics

const GC_ON_SIGNAL = ['--expose-gc', '--import', path.join(import.meta.dirname, '../loadtest/gc-on-signal.mjs')];

class MemorySampler {
  readonly samples: { at: number; rss: number[]; heap: (number | null)[] }[] = [];
  constructor(private readonly nodes: ServerNode[]) {}

  async sample(): Promise<void> {
    const at = Date.now();
    const rss = this.nodes.map((n) => processUsage(n.pid).rssBytes);
    for (const n of this.nodes) n.process.kill('SIGUSR2');
    await sleep(300);
    const heap = await Promise.all(
      this.nodes.map(async (n) => (await scrapeMetrics(n.url).catch(() => null))?.get('nodejs_heap_size_used_bytes') ?? null),
    );
    this.samples.push({ at, rss, heap });
  }

  summary(i: number): { rssGrowthMb: number; heapGrowthMb: number; report: string } {
    const mb = (n: number) => Math.round(n / 1e5) / 10;
    const rss = this.samples.map((s) => s.rss[i]!);
    const heap = this.samples.map((s) => s.heap[i]).filter((h): h is number => h !== null);
    return {
      rssGrowthMb: mb(Math.max(...rss) - rss[0]!),
      heapGrowthMb: mb(Math.max(...heap) - heap[0]!),
      report: `RSS MB ${rss.map(mb).join(' ')}; heap retained MB ${heap.map(mb).join(' ')}`,
    };
  }
}

// ---------------------------------------------------------------------------------------------

let setup: TestApp;
let redis: OwnRedis;
let nodeA: ServerNode;
let nodeB: ServerNode;
let admin: TestUser;
let invigilator: TestUser;

beforeAll(async () => {
  // The in-process app creates the database (its migrations), users and exams; it has no Redis and,
  // once ready, no sweeper: deadlines here are enforced by the child nodes alone.
  setup = await createTestApp({ env: { LOG_LEVEL: 'error' } });
  await setup.app.ready();
  setup.app.sweeper.stop();
  redis = await OwnRedis.start();
  const env = { RESYNC_INTERVAL_MS: String(RESYNC_MS), SWEEP_INTERVAL_MS: '1000' };
  [nodeA, nodeB] = await Promise.all([
    startChildNode({ databaseUrl: setup.databaseUrl, redisPrefix: PREFIX, redisUrl: redis.url, env, nodeArgs: GC_ON_SIGNAL }),
    startChildNode({ databaseUrl: setup.databaseUrl, redisPrefix: PREFIX, redisUrl: redis.url, env, nodeArgs: GC_ON_SIGNAL }),
  ]);
  [admin] = (await createUsers(setup.app, 1, 'admin')) as [TestUser];
  [invigilator] = (await createUsers(setup.app, 1, 'invigilator')) as [TestUser];
}, 90_000);

/** An exam through the admin routes, with `invigilator` assigned. */
async function examFor(students: TestUser[], questions: number, extra: Parameters<typeof examBody>[2] = {}) {
  const exam = await createExam(setup.app, admin, examBody(questions, 1, extra), { enroll: students });
  const res = await setup.app.inject({
    method: 'PUT',
    url: `/api/exams/${exam.id}/invigilators`,
    headers: admin.headers,
    payload: { emails: [invigilator.email] },
  });
  expect(res.statusCode).toBe(200);
  return exam;
}

async function startSessions(url: string, students: TestUser[], examId: number): Promise<Session[]> {
  return Promise.all(
    students.map(async (student) => {
      const socket = await connectSocket(url, '/exam', student.token);
      const ended = collect(socket, EXAM_EVENTS.ended);
      const started = await ok(socket, EXAM_EVENTS.start, { examId });
      return { student, socket, started, attemptId: started.attempt.id, ended };
    }),
  );
}

const dbLoads = async (node: ServerNode) => (await scrapeMetrics(node.url)).get('question_cache_lookups_total{source="database"}') ?? 0;

function expectAlive(): void {
  for (const node of [nodeA, nodeB]) {
    expect(node.process.exitCode, node.log()).toBeNull();
    expect(node.process.signalCode).toBeNull();
    expect(node.log()).not.toMatch(/unhandled|uncaught|fatal/i);
  }
}

/** The first live progress update (not a resync's full row: it has no `status`) of one of `students` after `since`. */
const liveProgressAfter = (model: ConsoleModel, students: Set<number>, since: number) =>
  model.updates.find((u) => u.at > since && students.has(u.payload.student.id) && u.payload.answered !== undefined && u.payload.status === undefined);

describe('Redis restarted mid-exam (killed, started again at once, empty)', () => {
  it('no node dies, every acked answer is stored, B sees A students live within 10 s, questions load once per node', async () => {
    const streaming = await createUsers(setup.app, 40);
    const latecomers = await createUsers(setup.app, 20);
    const exam = await examFor([...streaming, ...latecomers], 10);
    const ids = new Set(streaming.map((s) => s.id));

    const consoleSocket = await connectSocket(nodeB.url, INVIGILATOR_NAMESPACE, invigilator.token);
    const model = new ConsoleModel(consoleSocket, exam.id);
    await model.watch();
    const sessions = await startSessions(nodeA.url, streaming, exam.id);
    const ledger = new Ledger();
    const run = stream(sessions, ledger, { everyMs: 150, maxSeq: 2000, maxMs: 60_000 });
    await waitFor('B sees progress of 30 students streaming on A', () => new Set(model.updates.filter((u) => u.payload.answered).map((u) => u.payload.student.id)).size >= 30, 10_000);
    const proctorSeen = collect(consoleSocket, INVIGILATOR_EVENTS.proctorEvent);
    const loadsBefore = { a: await dbLoads(nodeA), b: await dbLoads(nodeB) };
    await sleep(3000);

    const killedAt = await redis.kill();
    const back = await redis.up();

    // Fan-out: a live progress update and a proctoring event from A reach the console on B.
    const progressBack = await waitFor('a live progress update from A on B', () => liveProgressAfter(model, ids, back), BACK_WITHIN_MS, 20);
    const flagger = sessions[0]!;
    const proctorBack = await waitFor(
      'a proctoring event from A on B',
      async () => {
        await request(flagger.socket, EXAM_EVENTS.proctor, { attemptId: flagger.attemptId, type: 'focus_lost' }, 2000).catch(() => null);
        return proctorSeen.find((e) => e.at > back && e.payload.attemptId === flagger.attemptId);
      },
      BACK_WITHIN_MS,
      500,
    );
    // Presence: Redis lost who is connected; a fresh snapshot on B shows A's students connected again.
    const observer = await connectSocket(nodeB.url, INVIGILATOR_NAMESPACE, invigilator.token);
    const presenceBack = await waitFor(
      'every streaming student shown connected by a fresh roster on B',
      async () => {
        const { roster } = await ok(observer, INVIGILATOR_EVENTS.watch, { examId: exam.id });
        return roster.filter((r) => ids.has(r.student.id)).every((r) => r.connected) ? Date.now() : null;
      },
      BACK_WITHIN_MS,
      200,
    );
    console.log(
      `redis restart (down ${back - killedAt} ms): live progress ${progressBack.at - back} ms, proctor event ${proctorBack.at - back} ms, presence ${presenceBack - back} ms after return`,
    );
    expect(presenceBack - back).toBeLessThan(BACK_WITHIN_MS);
    // Answers went on being acknowledged across the restart.
    await waitFor('answers acknowledged after the restart', () => ledger.acksBetween(back, Date.now()) >= 100, 5000);

    // The question set is read from the database once on B for 20 concurrent first starts there, never on A.
    const late = await startSessions(nodeB.url, latecomers, exam.id);
    expect(late.every((s) => questionsOf(s.started.exam).length === 10)).toBe(true);
    expect((await dbLoads(nodeB)) - loadsBefore.b).toBe(1);
    expect((await dbLoads(nodeA)) - loadsBefore.a).toBe(0);
    for (const s of late) s.socket.disconnect();

    await run.stop();
    expect(ledger.refusals).toEqual([]);
    expect(await ledger.check(setup.databaseUrl)).toBeGreaterThan(streaming.length * 5);
    // The console, left alone, converges on the truth: every row as the database and presence say.
    const connected = new Set(streaming.map((s) => s.id));
    expect((await model.converged(setup.databaseUrl, connected, back + BACK_WITHIN_MS)).differences).toEqual([]);
    expectAlive();
    for (const s of sessions) s.socket.disconnect();
    consoleSocket.disconnect();
    observer.disconnect();
  }, 60_000);
});

describe('Redis down for 60 s', () => {
  it('answers acked and stored throughout, deadlines enforced, memory flat; on return fan-out and consoles are right within 10 s', async () => {
    const streaming = await createUsers(setup.app, 60);
    const onB = await createUsers(setup.app, 2);
    const exam = await examFor([...streaming, ...onB], 10);
    const shortStudents = await createUsers(setup.app, 4);
    // Deadline about 20 s into the outage; grace 2 s.
    const shortExam = await examFor(shortStudents, 3, { durationSeconds: 22, gracePeriodSeconds: 2 });
    const coldStudents = await createUsers(setup.app, 20);
    const coldExam = await examFor(coldStudents, 5);
    const ids = new Set(streaming.map((s) => s.id));

    const consoleSocket = await connectSocket(nodeB.url, INVIGILATOR_NAMESPACE, invigilator.token);
    const model = new ConsoleModel(consoleSocket, exam.id);
    const shortModel = new ConsoleModel(consoleSocket, shortExam.id);
    await model.watch();
    await shortModel.watch();
    const actor = await connectSocket(nodeA.url, INVIGILATOR_NAMESPACE, admin.token);
    const sessions = await startSessions(nodeA.url, streaming, exam.id);
    const bSessions = await startSessions(nodeB.url, onB, exam.id);
    const ledger = new Ledger();
    const run = stream(sessions, ledger, { everyMs: 200, maxSeq: 3000, maxMs: 110_000 });
    await waitFor('B sees progress of 50 students streaming on A', () => new Set(model.updates.filter((u) => u.payload.answered).map((u) => u.payload.student.id)).size >= 50, 15_000);
    const short = await startSessions(nodeA.url, shortStudents, shortExam.id);
    for (const s of short) {
      const q = questionsOf(s.started.exam)[0]!;
      await ok(s.socket, EXAM_EVENTS.answer, { attemptId: s.attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 1 });
    }
    const coldLoadsBefore = await dbLoads(nodeB);
    const proctorSeen = collect(consoleSocket, INVIGILATOR_EVENTS.proctorEvent);
    await sleep(3000);
    const memory = new MemorySampler([nodeA, nodeB]);
    await memory.sample();

    // Data kept (SHUTDOWN SAVE): presence entries and heartbeats from before the outage come back with it.
    const down = await redis.shutdownSave();
    const sampler = setInterval(() => void memory.sample(), 3000);
    try {
      // Messages lost while it is away: students submitting and leaving on A, an attempt on B terminated
      // with a reason and one force-submitted by an admin on A.
      await sleep(3000);
      const [leaver1, leaver2, leaver3, submit1, submit2, submit3] = sessions.slice(-6) as Session[];
      for (const s of [submit1!, submit2!, submit3!]) await run.halt(s);
      for (const s of [submit1!, submit2!, submit3!]) expect((await ok(s.socket, EXAM_EVENTS.submit, { attemptId: s.attemptId })).attempt.status).toBe('submitted');
      for (const s of [leaver1!, leaver2!, leaver3!]) s.socket.disconnect();
      const [terminated, forced] = bSessions as [Session, Session];
      await ok(actor, INVIGILATOR_EVENTS.terminate, { attemptId: terminated.attemptId, reason: 'Notes found under the desk' });
      await ok(actor, INVIGILATOR_EVENTS.forceSubmit, { attemptId: forced.attemptId });

      // Questions from the database, once, for 20 students starting an exam B never served, Redis away.
      const t0 = Date.now();
      const cold = await startSessions(nodeB.url, coldStudents, coldExam.id);
      const coldMs = Date.now() - t0;
      // Not held up by Redis: a start costs the database read, not a wait for reconnect attempts.
      expect(coldMs).toBeLessThan(2000);
      expect(cold.every((s) => questionsOf(s.started.exam).length === 5)).toBe(true);
      expect((await dbLoads(nodeB)) - coldLoadsBefore).toBe(1);
      for (const s of cold) s.socket.disconnect();

      // The deadline passes during the outage: after deadline + grace an answer is refused, the sweeper ends it.
      const deadline = Date.parse(short[0]!.started.attempt.deadlineAt);
      await sleep(Math.max(0, deadline + 2000 + 500 - Date.now()));
      for (const s of short) {
        const q = questionsOf(s.started.exam)[1]!;
        const res = await request(s.socket, EXAM_EVENTS.answer, { attemptId: s.attemptId, questionId: q.id, optionId: q.options[0]!.id, seq: 2 });
        expect(res.ok ? 'accepted' : res.error.code).toMatch(/^(DEADLINE_PASSED|ATTEMPT_CLOSED)$/);
      }
      const expired = await waitFor(
        'the sweeper ends the short attempts',
        async () => {
          const rows = await sql<{ status: string; at_deadline: boolean }>(
            setup.databaseUrl,
            'select status, submitted_at = deadline_at as at_deadline from attempts where id = any($1::int[])',
            [short.map((s) => s.attemptId)],
          );
          return rows.every((r) => r.status === 'expired' && r.at_deadline) ? Date.now() : null;
        },
        10_000,
        250,
      );
      expect(expired - deadline).toBeLessThan(2000 + 5000);
      const answersAfter = await sql<{ n: number }>(setup.databaseUrl, 'select count(*)::int as n from attempt_answers where attempt_id = any($1::int[])', [
        short.map((s) => s.attemptId),
      ]);
      expect(answersAfter[0]!.n).toBe(short.length);
      console.log(`redis down: 20 cold starts on B took ${coldMs} ms; short attempts expired ${expired - deadline} ms after their deadline`);

      await sleep(Math.max(0, down + OUTAGE_MS - Date.now()));
    } finally {
      clearInterval(sampler);
    }
    await memory.sample();
    const back = await redis.up();

    // Answers were acked throughout the outage: in every 5 s of it, and never refused.
    for (let from = down; from + 5000 <= back; from += 5000) expect(ledger.acksBetween(from, from + 5000), `acks ${from - down} ms into the outage`).toBeGreaterThan(100);
    // Memory flat: resident memory grows less than 30 MB over the outage, and the heap retained after a
    // full collection hardly moves (nothing buffers the messages of the outage).
    for (const [i, name] of ['A', 'B'].entries()) {
      const { rssGrowthMb, heapGrowthMb, report } = memory.summary(i);
      console.log(`node ${name} during the outage: ${report}`);
      expect(rssGrowthMb, `node ${name} RSS growth`).toBeLessThan(30);
      expect(heapGrowthMb, `node ${name} retained heap growth`).toBeLessThan(10);
    }

    // Fan-out again within 10 s.
    const progressBack = await waitFor('a live progress update from A on B', () => liveProgressAfter(model, ids, back), BACK_WITHIN_MS, 20);
    const flagger = sessions[0]!;
    const proctorBack = await waitFor(
      'a proctoring event from A on B',
      async () => {
        await request(flagger.socket, EXAM_EVENTS.proctor, { attemptId: flagger.attemptId, type: 'paste' }, 2000).catch(() => null);
        return proctorSeen.find((e) => e.at > back && e.payload.attemptId === flagger.attemptId);
      },
      BACK_WITHIN_MS,
      500,
    );
    // The attempts ended on A while B could not hear it: B's students are told, with the real reasons.
    const [terminated, forced] = bSessions as [Session, Session];
    const endedOnB = await waitFor('the students on B told their attempts ended', () => terminated.ended[0] && forced.ended[0] && [terminated.ended[0], forced.ended[0]], back + BACK_WITHIN_MS - Date.now());
    expect(endedOnB.map((e) => e.payload)).toEqual([
      { attemptId: terminated.attemptId, status: 'terminated', reason: 'Notes found under the desk' },
      { attemptId: forced.attemptId, status: 'submitted', reason: 'forced' },
    ]);
    expect(short.every((s) => s.ended.some((e) => e.payload.status === 'expired' && e.payload.reason === 'deadline'))).toBe(true);

    // The consoles on B: every row as the database and presence say, within 10 s of the return.
    await run.stop();
    const leftIds = new Set(sessions.filter((s) => !s.socket.connected).map((s) => s.student.id));
    const connected = new Set([...streaming, ...onB].map((s) => s.id).filter((id) => !leftIds.has(id)));
    const main = await model.converged(setup.databaseUrl, connected, back + BACK_WITHIN_MS);
    expect(main.differences).toEqual([]);
    expect((await shortModel.converged(setup.databaseUrl, new Set(shortStudents.map((s) => s.id)), back + BACK_WITHIN_MS)).differences).toEqual([]);
    // A fresh snapshot agrees on who is connected (presence written while Redis was away is repaired).
    const { roster } = await ok(consoleSocket, INVIGILATOR_EVENTS.watch, { examId: exam.id });
    expect(roster.filter((r) => r.connected !== connected.has(r.student.id)).map((r) => r.student.id)).toEqual([]);
    // Nobody who stayed connected was reported gone after the return (no node took the other for dead).
    expect(model.updates.filter((u) => u.at > back && u.payload.connected === false && connected.has(u.payload.student.id)).map((u) => u.payload.student.id)).toEqual([]);
    console.log(
      `redis back after 60 s: live progress ${progressBack.at - back} ms, proctor event ${proctorBack.at - back} ms, console right ${main.at - back} ms after return`,
    );

    expect(ledger.refusals).toEqual([]);
    expect(await ledger.check(setup.databaseUrl)).toBeGreaterThan(streaming.length * 5);
    expectAlive();
  }, 150_000);
});
