/**
 * The client side of `bench:fanout` (see bench-fanout.ts), in its own process. Bounded by the job's
 * counts and duration.
 */
import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import type { Ack, AttemptStartResult, RosterUpdate } from '../server/protocol.js';
import type { FanoutJob, FanoutResult } from './bench-fanout.js';
import { percentile } from './bench-setup.js';

const connect = (url: string, namespace: string, token: string): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = io(url + namespace, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });

async function connectStudents(job: FanoutJob, tokens: string[], urlFor: (i: number) => string) {
  const out: { socket: Socket; start: AttemptStartResult }[] = [];
  for (let i = 0; i < tokens.length; i += 100) {
    out.push(
      ...(await Promise.all(
        tokens.slice(i, i + 100).map(async (token, j) => {
          const socket = await connect(urlFor(i + j), '/exam', token);
          const res = (await socket.timeout(30_000).emitWithAck('attempt:start', { examId: job.examId })) as Ack<AttemptStartResult>;
          if (!res.ok) throw new Error(`attempt:start refused: ${res.error.code}`);
          return { socket, start: res };
        }),
      )),
    );
  }
  return out;
}

async function run(job: FanoutJob): Promise<FanoutResult> {
  const invigilator = await connect(job.urlB, '/invigilator', job.invigilatorToken);
  const watch = (await invigilator.timeout(30_000).emitWithAck('exam:watch', { examId: job.examId })) as Ack<{ roster: unknown[] }>;
  if (!watch.ok) throw new Error(`exam:watch refused: ${watch.error.code}`);

  // Phase 1: students on node A stream answers; match each ack with the update that shows it.
  const streaming = await connectStudents(job, job.studentTokens.slice(0, job.streamingStudents), () => job.urlA);
  /** attemptId -> answered count -> ack time */
  const acked = new Map<number, Map<number, number>>();
  const latencies: number[] = [];
  invigilator.on('roster:update', (u: RosterUpdate | RosterUpdate[]) => {
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
            const res = (await socket.timeout(10_000).emitWithAck('answer', {
              attemptId: start.attempt.id,
              questionId: q.id,
              optionId: q.options[0]!.id,
              seq: 1,
            })) as Ack<{ seq: number }>;
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
        socket.once('message', () => {
          times.push(performance.now() - t0);
          if (times.length === all.length) {
            clearTimeout(timeout);
            resolve();
          }
        });
      }
    });
    const res = (await invigilator.timeout(10_000).emitWithAck('exam:announce', { examId: job.examId, text })) as Ack;
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
