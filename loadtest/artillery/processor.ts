/**
 * Artillery processor for the scenarios next to it (socketio-v3 engine). The engine connects the
 * sockets and reports emits; it does not time acks, so every request here goes through a function
 * step that emits on the engine's socket, checks the typed ack and records its latency into a custom
 * histogram (`exam.*_ms` in Artillery's report) and into a per-worker file the runner reads
 * (`LOADTEST_LEDGER_DIR`: one JSON line per virtual user with its latencies, errors and the ledger
 * of acked answers). Tokens are minted here with the servers' secret, so logins do not dominate.
 *
 * Environment (set by `npm run loadtest -- --scenario …`): LOADTEST_JWT_SECRET, LOADTEST_EXAM_ID,
 * LOADTEST_STUDENTS_FILE, LOADTEST_LEDGER_DIR, LOADTEST_THINK_MS, LOADTEST_ANSWERS.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { TokenService } from '../../server/auth/tokens.js';
import { EXAM_NAMESPACE, INVIGILATOR_EVENTS, INVIGILATOR_NAMESPACE, type RosterUpdate } from '../../server/protocol.js';
import { sendAnswer, startAttempt, submitAttempt, watchExam, type InvigilatorSocket, type StudentSocket } from '../student.js';

interface Person {
  id: number;
  name: string;
}

/** What this processor keeps per virtual user (Artillery's `context`). */
interface VuContext {
  vars: Record<string, unknown>;
  sockets: { [EXAM_NAMESPACE]?: StudentSocket; [INVIGILATOR_NAMESPACE]?: InvigilatorSocket };
  exam?: {
    attemptId: number;
    questions: { id: number; options: number[] }[];
    n: number;
  };
  line?: Line;
}

/** What each virtual user writes, one JSON line per user (the runner reads them: loadtest/run.ts). */
export interface Line {
  role: 'student' | 'invigilator';
  ledger: [number, number, number][];
  connect: number[];
  start: number[];
  ack: number[];
  submit: number[];
  watch: number[];
  roster: number[];
  errors: Record<string, number>;
  sent: number;
}

interface Events {
  emit(type: 'histogram', name: string, value: number): void;
  emit(type: 'counter', name: string, value: number): void;
}

type Done = (err?: Error) => void;
type Step = (context: VuContext, events: Events, done: Done) => void;

/**
 * A step from an async body. Artillery calls a plain function with a callback and callbackifies an
 * `async` one; after bundling, which one it sees depends on esbuild's target, so every step is
 * handed over as a plain function that calls back exactly once.
 */
function step(body: (context: VuContext, events: Events) => Promise<void>): Step {
  return function (context, events, done) {
    body(context, events).then(
      () => done(),
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  };
}

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the scenarios through npm run loadtest -- --scenario …`);
  return v;
};

let people: { students: Person[]; invigilators: Person[] } | undefined;
let tokens: TokenService | undefined;
let nextStudent = 0;
let nextInvigilator = 0;
/** attemptId -> answered count -> when its ack arrived, for the invigilators' roster latency (one worker). */
const ackedAt = new Map<number, Map<number, number>>();

function setup() {
  people ??= JSON.parse(readFileSync(env('LOADTEST_STUDENTS_FILE'), 'utf8')) as { students: Person[]; invigilators: Person[] };
  tokens ??= new TokenService(env('LOADTEST_JWT_SECRET'), 8 * 3600);
  return { people, tokens };
}

function lineOf(context: VuContext): Line {
  context.line ??= { role: context.vars.role === 'invigilator' ? 'invigilator' : 'student', ledger: [], connect: [], start: [], ack: [], submit: [], watch: [], roster: [], errors: {}, sent: 0 };
  return context.line;
}

function failed(context: VuContext, events: Events, code: string): void {
  const line = lineOf(context);
  line.errors[code] = (line.errors[code] ?? 0) + 1;
  events.emit('counter', `exam.error.${code}`, 1);
}

/** Picks the next seeded student (each once), mints its token, starts the connect clock. */
export function pickStudent(context: VuContext, _events: Events, done: Done): void {
  const { people, tokens } = setup();
  const student = people.students[nextStudent++ % people.students.length]!;
  context.vars.token = tokens.issue({ sub: student.id, role: 'student', name: student.name });
  context.vars.thinkMs = Number(process.env.LOADTEST_THINK_MS ?? 10_000);
  context.vars.answers = Number(process.env.LOADTEST_ANSWERS ?? 10);
  context.vars.connectStarted = performance.now();
  done();
}

export function pickInvigilator(context: VuContext, _events: Events, done: Done): void {
  const { people, tokens } = setup();
  const invigilator = people.invigilators[nextInvigilator++ % people.invigilators.length]!;
  context.vars.token = tokens.issue({ sub: invigilator.id, role: 'invigilator', name: invigilator.name });
  context.vars.role = 'invigilator';
  context.vars.watchMs = Number(process.env.LOADTEST_THINK_MS ?? 10_000) * Number(process.env.LOADTEST_ANSWERS ?? 10) + 5000;
  context.vars.connectStarted = performance.now();
  done();
}

/**
 * Think time between answers, `LOADTEST_THINK_MS` ± 10 %. A function rather than Artillery's `think`:
 * its template turns "{{ thinkMs }}ms" into seconds, and a fractional second into milliseconds.
 */
export function think(context: VuContext, _events: Events, done: Done): void {
  setTimeout(() => done(), Number(context.vars.thinkMs) * (0.9 + Math.random() * 0.2));
}

export function connected(context: VuContext, events: Events, done: Done): void {
  const ms = performance.now() - Number(context.vars.connectStarted);
  lineOf(context).connect.push(ms);
  events.emit('histogram', 'exam.connect_ms', ms);
  done();
}

export const startExam = step(async (context, events) => {
  const socket = context.sockets[EXAM_NAMESPACE];
  if (!socket) throw new Error('no /exam socket');
  const t0 = performance.now();
  const res = await startAttempt(socket, Number(env('LOADTEST_EXAM_ID')));
  if (!res.ok) {
    failed(context, events, `start:${res.error.code}`);
    throw new Error(res.error.code);
  }
  const ms = performance.now() - t0;
  lineOf(context).start.push(ms);
  events.emit('histogram', 'exam.start_ms', ms);
  context.exam = {
    attemptId: res.attempt.id,
    questions: res.exam.sections.flatMap((s) => s.questions.map((q) => ({ id: q.id, options: q.options.map((o) => o.id) }))),
    n: 0,
  };
});

/** Answers the next question (in order, wrapping), acked only once durable; the ack is timed. */
export const answerNext = step(async (context, events) => {
  const socket = context.sockets[EXAM_NAMESPACE];
  const exam = context.exam;
  if (!socket || !exam) throw new Error('no attempt');
  const q = exam.questions[exam.n % exam.questions.length]!;
  exam.n++;
  const line = lineOf(context);
  line.sent++;
  const t0 = performance.now();
  const res = await sendAnswer(socket, { attemptId: exam.attemptId, questionId: q.id, optionId: q.options[exam.n % q.options.length]!, seq: exam.n });
  if (!res.ok) {
    failed(context, events, res.error.code);
    return;
  }
  const ms = performance.now() - t0;
  line.ack.push(ms);
  line.ledger.push([exam.attemptId, q.id, res.seq]);
  events.emit('histogram', 'exam.answer_ack_ms', ms);
  let perAttempt = ackedAt.get(exam.attemptId);
  if (!perAttempt) ackedAt.set(exam.attemptId, (perAttempt = new Map()));
  perAttempt.set(Math.min(exam.n, exam.questions.length), Date.now());
});

export const submitExam = step(async (context, events) => {
  const socket = context.sockets[EXAM_NAMESPACE];
  if (!socket || !context.exam) throw new Error('no attempt');
  const t0 = performance.now();
  const res = await submitAttempt(socket, context.exam.attemptId);
  if (!res.ok) {
    failed(context, events, `submit:${res.error.code}`);
    return;
  }
  const ms = performance.now() - t0;
  lineOf(context).submit.push(ms);
  events.emit('histogram', 'exam.submit_ms', ms);
});

/** `exam:watch` (timed), then the live roster for `watchMs`: each update's delay after the student's ack. */
export const watchRoster = step(async (context, events) => {
  const socket = context.sockets[INVIGILATOR_NAMESPACE];
  if (!socket) throw new Error('no /invigilator socket');
  const line = lineOf(context);
  const t0 = performance.now();
  const res = await watchExam(socket, Number(env('LOADTEST_EXAM_ID')));
  if (!res.ok) {
    failed(context, events, `watch:${res.error.code}`);
    throw new Error(res.error.code);
  }
  const ms = performance.now() - t0;
  line.watch.push(ms);
  events.emit('histogram', 'exam.watch_ms', ms);
  const onUpdate = (update: RosterUpdate | RosterUpdate[]) => {
    const now = Date.now();
    for (const row of Array.isArray(update) ? update : [update]) {
      if (row.attemptId === null || row.answered === undefined) continue;
      const at = ackedAt.get(row.attemptId)?.get(row.answered);
      if (at === undefined) continue;
      line.roster.push(now - at);
      events.emit('histogram', 'exam.roster_update_ms', now - at);
    }
  };
  socket.on(INVIGILATOR_EVENTS.rosterUpdate, onUpdate);
  await new Promise((resolve) => setTimeout(resolve, Number(context.vars.watchMs)));
  socket.off(INVIGILATOR_EVENTS.rosterUpdate, onUpdate);
});

/** The virtual user's line for the runner (appended once, at its end). */
export function finish(context: VuContext, _events: Events, done: Done): void {
  appendFileSync(path.join(env('LOADTEST_LEDGER_DIR'), `${process.pid}-${threadId}.jsonl`), `${JSON.stringify(lineOf(context))}\n`);
  done();
}
