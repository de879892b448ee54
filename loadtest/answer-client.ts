/**
 * The load side of `bench:answers`, in its own process (so it does not steal the server's event loop):
 * connects one Socket.IO client per token, starts each attempt, then streams answers at a fixed total
 * rate for a fixed time and reports every ack latency to the parent. Bounded by count and time.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import {
  EXAM_EVENTS,
  EXAM_NAMESPACE,
  type Ack,
  type AttemptStartResult,
  type ExamClientToServerEvents,
  type ExamServerToClientEvents,
} from '../server/protocol.js';

/**
 * A student's socket, typed by the `/exam` event maps. Requests go out as `timeout(ms).emit(event,
 * payload, callback)`: socket.io types that callback's ack from the map (its `emitWithAck` after
 * `timeout()` returns `any`).
 */
type StudentSocket = Socket<ExamServerToClientEvents, ExamClientToServerEvents>;

interface Job {
  url: string;
  tokens: string[];
  examId: number;
  rate: number;
  seconds: number;
}

async function connectAll(job: Job): Promise<{ socket: StudentSocket; start: AttemptStartResult }[]> {
  const out: { socket: StudentSocket; start: AttemptStartResult }[] = [];
  for (let i = 0; i < job.tokens.length; i += 100) {
    const batch = await Promise.all(
      job.tokens.slice(i, i + 100).map(async (token) => {
        const socket: StudentSocket = io(job.url + EXAM_NAMESPACE, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
        });
        const res = await new Promise<Ack<AttemptStartResult>>((resolve, reject) =>
          socket.timeout(30_000).emit(EXAM_EVENTS.start, { examId: job.examId }, (err, ack) => (err ? reject(err) : resolve(ack))),
        );
        if (!res.ok) throw new Error(`attempt:start refused: ${res.error.code}`);
        return { socket, start: res };
      }),
    );
    out.push(...batch);
  }
  return out;
}

async function run(job: Job) {
  const clients = await connectAll(job);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let sent = 0;
  const perSocketIntervalMs = (clients.length / job.rate) * 1000;
  const stopAt = performance.now() + job.seconds * 1000;
  const pending = new Set<Promise<void>>();

  await Promise.all(
    clients.map(
      ({ socket, start }, i) =>
        new Promise<void>((resolve) => {
          const questions = start.exam.sections.flatMap((s) => s.questions);
          let n = 0;
          const tick = () => {
            if (performance.now() >= stopAt) return resolve();
            const q = questions[n % questions.length]!;
            n++;
            sent++;
            const t0 = performance.now();
            const p = new Promise<Ack<{ seq: number }>>((resolve, reject) =>
              socket.timeout(10_000).emit(
                EXAM_EVENTS.answer,
                { attemptId: start.attempt.id, questionId: q.id, optionId: q.options[n % q.options.length]!.id, seq: n },
                (err, ack) => (err ? reject(err) : resolve(ack)),
              ),
            ).then(
              (res) => {
                if (res.ok) latencies.push(performance.now() - t0);
                else errors[res.error.code] = (errors[res.error.code] ?? 0) + 1;
              },
              () => {
                errors.TIMEOUT = (errors.TIMEOUT ?? 0) + 1;
              },
            );
            pending.add(p);
            void p.finally(() => pending.delete(p));
            setTimeout(tick, perSocketIntervalMs);
          };
          // Spread the sockets evenly over one interval, so the offered load is smooth.
          setTimeout(tick, (i / clients.length) * perSocketIntervalMs);
        }),
    ),
  );
  await Promise.all(pending);
  lag.disable();
  for (const { socket } of clients) socket.disconnect();
  process.send!({ latencies, errors, sent, lagP99: lag.percentile(99) / 1e6 });
}

process.once('message', (job: Job) => {
  run(job).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
