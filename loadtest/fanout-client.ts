/**
 * The client side of `bench:fanout` (see bench-fanout.ts), in its own process. Bounded by the job's
 * counts and duration.
 */
import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import {
  EXAM_EVENTS,
  EXAM_NAMESPACE,
  INVIGILATOR_EVENTS,
  INVIGILATOR_NAMESPACE,
  type Ack,
  type AttemptStartResult,
  type ExamClientToServerEvents,
  type ExamServerToClientEvents,
  type InvigilatorClientToServerEvents,
  type InvigilatorServerToClientEvents,
  type RosterRow,
} from '../server/protocol.js';
import type { FanoutJob, FanoutResult } from './bench-fanout.js';
import { percentile } from './bench-setup.js';

/**
 * Sockets typed by their namespace's event maps. Requests go out as `timeout(ms).emit(event, payload,
 * callback)`: socket.io types that callback's ack from the map (its `emitWithAck` after `timeout()`
 * returns `any`).
 */
type StudentSocket = Socket<ExamServerToClientEvents, ExamClientToServerEvents>;
type InvigilatorClientSocket = Socket<InvigilatorServerToClientEvents, InvigilatorClientToServerEvents>;

/** Resolves once the socket is connected; rejects with the `connect_error`. */
const connected = (socket: Socket): Promise<void> =>
  new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });

async function connectStudent(url: string, token: string): Promise<StudentSocket> {
  const socket: StudentSocket = io(url + EXAM_NAMESPACE, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  await connected(socket);
  return socket;
}

async function connectInvigilator(url: string, token: string): Promise<InvigilatorClientSocket> {
  const socket: InvigilatorClientSocket = io(url + INVIGILATOR_NAMESPACE, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  await connected(socket);
  return socket;
}

async function connectStudents(job: FanoutJob, tokens: string[], urlFor: (i: number) => string) {
  const out: { socket: StudentSocket; start: AttemptStartResult }[] = [];
  for (let i = 0; i < tokens.length; i += 100) {
    out.push(
      ...(await Promise.all(
        tokens.slice(i, i + 100).map(async (token, j) => {
          const socket = await connectStudent(urlFor(i + j), token);
          const res = await new Promise<Ack<AttemptStartResult>>((resolve, reject) =>
            socket.timeout(30_000).emit(EXAM_EVENTS.start, { examId: job.examId }, (err, ack) => (err ? reject(err) : resolve(ack))),
          );
          if (!res.ok) throw new Error(`attempt:start refused: ${res.error.code}`);
          return { socket, start: res };
        }),
      )),
    );
  }
  return out;
}

async function run(job: FanoutJob): Promise<FanoutResult> {
  const invigilator = await connectInvigilator(job.urlB, job.invigilatorToken);
  const watch = await new Promise<Ack<{ roster: RosterRow[] }>>((resolve, reject) =>
    invigilator.timeout(30_000).emit(INVIGILATOR_EVENTS.watch, { examId: job.examId }, (err, ack) => (err ? reject(err) : resolve(ack))),
  );
  if (!watch.ok) throw new Error(`exam:watch refused: ${watch.error.code}`);

  // Phase 1: students on node A stream answers; match each ack with the update that shows it.
  const streaming = await connectStudents(job, job.studentTokens.slice(0, job.streamingStudents), () => job.urlA);
  /** attemptId -> answered count -> ack time */
  const acked = new Map<number, Map<number, number>>();
  const latencies: number[] = [];
  invigilator.on(INVIGILATOR_EVENTS.rosterUpdate, (u) => {
    const now = performance.now();
    for (const row of Array.isArray(u) ? u : [u]) {
      if (row.attemptId === null || row.answered === undefined) continue;
      const waiting = acked.get(row.attemptId);
      if (!waiting) continue;
      for (const [count, at] of waiting) {
        if (count <= row.answered) {
          latencies.push(now - at);
          waiting.delete(count);
        }
      }
    }
  });
  let answersAcked = 0;
  const answerErrors: Record<string, number> = {};
  const stopAt = performance.now() + job.seconds * 1000;
  await Promise.all(
    streaming.map(
      ({ socket, start }, i) =>
        new Promise<void>((resolve) => {
          const questions = start.exam.sections.flatMap((s) => s.questions);
          let n = 0;
          const tick = async () => {
            if (performance.now() >= stopAt || n >= questions.length) return resolve();
            const q = questions[n]!;
            n++;
            const res = await new Promise<Ack<{ seq: number }>>((resolve, reject) =>
              socket.timeout(10_000).emit(
                EXAM_EVENTS.answer,
                { attemptId: start.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: 1 },
                (err, ack) => (err ? reject(err) : resolve(ack)),
              ),
            );
            if (res.ok) {
              answersAcked++;
              const m = acked.get(start.attempt.id) ?? new Map<number, number>();
              m.set(n, performance.now());
              acked.set(start.attempt.id, m);
            } else {
              answerErrors[res.error.code] = (answerErrors[res.error.code] ?? 0) + 1;
            }
            setTimeout(() => void tick(), job.answerEveryMs);
          };
          setTimeout(() => void tick(), (i / streaming.length) * job.answerEveryMs);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 1500));
  for (const { socket } of streaming) socket.disconnect();

  // Phase 2: every student, spread over both nodes, hears an announcement.
  const all = await connectStudents(job, job.studentTokens, (i) => (i % 2 === 0 ? job.urlA : job.urlB));
  const announce: FanoutResult['announce'] = [];
  for (let k = 0; k < job.announcements; k++) {
    const text = `announcement ${k}`;
    const times: number[] = [];
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, 10_000);
      for (const { socket } of all) {
        socket.once(EXAM_EVENTS.message, () => {
          times.push(performance.now() - t0);
          if (times.length === all.length) {
            clearTimeout(timeout);
            resolve();
          }
        });
      }
    });
    const res = await new Promise<Ack>((resolve, reject) =>
      invigilator.timeout(10_000).emit(INVIGILATOR_EVENTS.announce, { examId: job.examId, text }, (err, ack) => (err ? reject(err) : resolve(ack))),
    );
    if (!res.ok) throw new Error(`exam:announce refused: ${res.error.code}`);
    await done;
    times.sort((x, y) => x - y);
    announce.push({
      students: all.length,
      received: times.length,
      lastMs: times[times.length - 1] ?? NaN,
      p50Ms: percentile(times, 50),
      p99Ms: percentile(times, 99),
    });
    await new Promise((r) => setTimeout(r, 500));
  }
  for (const { socket } of all) socket.disconnect();
  invigilator.disconnect();
  return { progressLatencies: latencies, answersAcked, answerErrors, announce };
}

process.once('message', (job: FanoutJob) => {
  run(job).then(
    (result) => process.send!(result),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});
