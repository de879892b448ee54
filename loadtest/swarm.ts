/**
 * The swarm: more students than one Artillery process can drive, as socket.io-client sockets spread
 * over several child processes (each its own event loop and file-descriptor budget).
 *
 * Phases, the same clock for every process (the parent hands out wall-clock times):
 * 1. connect: each process opens its share of sockets at its share of `connectPerSecond`;
 *    with `startWindowMs = 0` each student sends `attempt:start` as soon as it is connected;
 * 2. start: otherwise, once everyone is connected, every student sends `attempt:start` at a random
 *    moment within `startWindowMs` (the exam-start spike, logins long done);
 * 3. answer: from a common moment, each student answers once every `everyMs` for `durationMs`, its
 *    first answer at a random offset within `spreadMs` (default: the whole interval, a smooth load;
 *    a small spread makes everyone answer within the same moment, a burst). Every ack is timed, every
 *    acked answer is kept in a ledger (attempt, question, highest acked seq) for the runner to check
 *    against the database. A refusal that says `retryAfterMs` is retried (at most 3 times) and counted;
 * 4. optionally `submit`.
 * Bounded: every phase has a deadline; each child exits when its job is done or its parent goes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { TokenService } from '../server/auth/tokens.js';
import type { AttemptStartResult } from '../server/protocol.js';
import { LatencyHistogram, type HistogramData } from './histogram.js';
import { connectStudent, errorCode, sendAnswer, startAttempt, submitAttempt, type StudentSocket } from './student.js';

export interface SwarmStudent {
  id: number;
  name: string;
}

export interface SwarmPlan {
  /** Where the sockets connect (a node, or nginx in front of several). */
  url: string;
  students: SwarmStudent[];
  examId: number;
  /** The servers' JWT secret: each process mints its students' tokens (no logins). */
  jwtSecret: string;
  connectPerSecond: number;
  /** 0: start right after connecting; else all start within this window once everyone is connected. */
  startWindowMs: number;
  everyMs: number;
  /** First answers spread over this long (default `everyMs`). */
  spreadMs?: number;
  durationMs: number;
  submit: boolean;
  processes: number;
  /** Source addresses (127.0.0.0/8) handed round-robin to the sockets. */
  localAddresses: string[];
  ackTimeoutMs?: number;
  /** Called about once a second while the swarm runs. */
  onProgress?: (p: SwarmProgress) => void;
  /**
   * Called when the answer phase begins, and a second after its last answer was due. The sockets stay
   * connected after the answers until the promise `onPhase('answered')` returns settles (bounded), so
   * what the caller measures then is the node with every student still on it.
   */
  onPhase?: (phase: 'answering' | 'answered') => Promise<void> | void;
}

export interface SwarmProgress {
  phase: string;
  connected: number;
  started: number;
  sent: number;
  acked: number;
  errors: number;
  inflight: number;
}

export interface SwarmResult {
  connected: number;
  started: number;
  sent: number;
  acked: number;
  errors: Record<string, number>;
  retried: number;
  connect: HistogramData;
  start: HistogramData;
  ack: HistogramData;
  submit: HistogramData;
  /** [attemptId, questionId, highest acked seq] per answered question. */
  ledger: [number, number, number][];
  /** The answer phase as it really ran (first send to last ack), in ms. */
  answerWallMs: number;
  clientLagP99Ms: number;
}

interface ChildJob extends Omit<SwarmPlan, 'onProgress' | 'onPhase' | 'processes'> {
  index: number;
}

type ToChild = { type: 'job'; job: ChildJob } | { type: 'go'; startAt: number; answerAt: number } | { type: 'release' };
/** Longest the sockets wait connected for the parent's samples after the answer phase. */
const HOLD_MS = 20_000;
type FromChild =
  | { type: 'progress'; progress: SwarmProgress }
  | { type: 'connected' }
  | { type: 'done'; result: SwarmResult };

const sleepUntil = (epochMs: number) => new Promise((r) => setTimeout(r, Math.max(0, epochMs - Date.now())));
const RETRYABLE = new Set(['RATE_LIMITED', 'UNAVAILABLE']);

// ---------------------------------------------------------------------------------------------
// The parent

/** Runs the plan over `plan.processes` child processes; resolves with everything merged. */
export async function runSwarm(plan: SwarmPlan): Promise<SwarmResult> {
  const n = Math.max(1, Math.min(plan.processes, plan.students.length));
  const children: ChildProcess[] = [];
  const progress: SwarmProgress[] = [];
  const results: SwarmResult[] = [];
  const { onProgress, onPhase, processes: _p, ...shared } = plan;
  const timers: NodeJS.Timeout[] = [];
  let connectedChildren = 0;
  let onAllConnected: () => void = () => {};
  const allConnected = new Promise<void>((r) => (onAllConnected = r));
  const done: Promise<unknown>[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const child = fork(fileURLToPath(import.meta.url), ['--swarm-child'], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      progress.push({ phase: 'connect', connected: 0, started: 0, sent: 0, acked: 0, errors: 0, inflight: 0 });
      child.on('message', (m: FromChild) => {
        if (m.type === 'progress') progress[i] = m.progress;
        else if (m.type === 'connected' && ++connectedChildren === n) onAllConnected();
        else if (m.type === 'done') results[i] = m.result;
      });
      done.push(
        once(child, 'exit').then(([code]) => {
          if (!results[i]) throw new Error(`swarm process ${i} exited with ${String(code)} before reporting`);
        }),
      );
      const job: ChildJob = {
        ...shared,
        index: i,
        students: plan.students.filter((_, k) => k % n === i),
        localAddresses: plan.localAddresses,
        connectPerSecond: plan.connectPerSecond / n,
      };
      child.send({ type: 'job', job } satisfies ToChild);
    }
    const ticker = setInterval(() => onProgress?.(mergeProgress(progress)), 1000);
    try {
      // Every child reports when its sockets are up (or have failed for good); bounded by the connect deadline.
      const connectBudgetMs = (plan.students.length / plan.connectPerSecond) * 1000 + 60_000;
      await Promise.race([allConnected, sleepUntil(Date.now() + connectBudgetMs), Promise.all(done)]);
      const startAt = Date.now() + 1000;
      const answerAt = startAt + plan.startWindowMs + (plan.startWindowMs > 0 ? 2000 : 0);
      for (const child of children) if (child.connected) child.send({ type: 'go', startAt, answerAt } satisfies ToChild);
      timers.push(setTimeout(() => onPhase?.('answering'), answerAt - Date.now()));
      const release = () => {
        for (const child of children) if (child.connected) child.send({ type: 'release' } satisfies ToChild);
      };
      timers.push(
        setTimeout(() => {
          void Promise.resolve(onPhase?.('answered')).then(release, release);
        }, answerAt + plan.durationMs + 1000 - Date.now()),
      );
      await Promise.all(done);
    } finally {
      clearInterval(ticker);
      for (const t of timers) clearTimeout(t);
    }
    return mergeResults(results);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

function mergeProgress(all: SwarmProgress[]): SwarmProgress {
  const sum = (k: keyof Omit<SwarmProgress, 'phase'>) => all.reduce((s, p) => s + p[k], 0);
  const phases = [...new Set(all.map((p) => p.phase))];
  return {
    phase: phases.join('/'),
    connected: sum('connected'),
    started: sum('started'),
    sent: sum('sent'),
    acked: sum('acked'),
    errors: sum('errors'),
    inflight: sum('inflight'),
  };
}

function mergeResults(all: SwarmResult[]): SwarmResult {
  const errors: Record<string, number> = {};
  for (const r of all) for (const [code, count] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + count;
  const hist = (k: 'connect' | 'start' | 'ack' | 'submit') => LatencyHistogram.from(all.map((r) => r[k])).toJSON();
  return {
    connected: all.reduce((s, r) => s + r.connected, 0),
    started: all.reduce((s, r) => s + r.started, 0),
    sent: all.reduce((s, r) => s + r.sent, 0),
    acked: all.reduce((s, r) => s + r.acked, 0),
    retried: all.reduce((s, r) => s + r.retried, 0),
    errors,
    connect: hist('connect'),
    start: hist('start'),
    ack: hist('ack'),
    submit: hist('submit'),
    ledger: all.flatMap((r) => r.ledger),
    answerWallMs: Math.max(...all.map((r) => r.answerWallMs)),
    clientLagP99Ms: Math.max(...all.map((r) => r.clientLagP99Ms)),
  };
}

// ---------------------------------------------------------------------------------------------
// A child

interface Student {
  info: SwarmStudent;
  socket: StudentSocket | null;
  attempt: AttemptStartResult | null;
  questions: { id: number; options: number[] }[];
  n: number;
}

async function runChild(job: ChildJob, go: Promise<{ startAt: number; answerAt: number }>, released: Promise<void>): Promise<SwarmResult> {
  const tokens = new TokenService(job.jwtSecret, 8 * 3600);
  const histograms = { connect: new LatencyHistogram(), start: new LatencyHistogram(), ack: new LatencyHistogram(), submit: new LatencyHistogram() };
  const errors: Record<string, number> = {};
  const fail = (code: string) => (errors[code] = (errors[code] ?? 0) + 1);
  const ledger = new Map<number, Map<number, number>>();
  const counters = { connected: 0, started: 0, sent: 0, acked: 0, inflight: 0, retried: 0 };
  let phase = 'connect';
  let stopping = false;
  const report = setInterval(() => {
    const progress: SwarmProgress = { phase, ...counters, errors: Object.values(errors).reduce((a, b) => a + b, 0) };
    process.send!({ type: 'progress', progress } satisfies FromChild);
  }, 1000);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const ackTimeoutMs = job.ackTimeoutMs ?? 10_000;

  const students: Student[] = job.students.map((info) => ({ info, socket: null, attempt: null, questions: [], n: 0 }));

  const start = async (s: Student) => {
    if (!s.socket?.connected) return;
    const t0 = performance.now();
    const res = await startAttempt(s.socket, job.examId);
    if (!res.ok) return void fail(`start:${res.error.code}`);
    histograms.start.record(performance.now() - t0);
    counters.started++;
    s.attempt = res;
    s.questions = res.exam.sections.flatMap((sec) => sec.questions.map((q) => ({ id: q.id, options: q.options.map((o) => o.id) })));
  };

  // 1. connect, paced; with no start window each student starts right away.
  const gapMs = 1000 / job.connectPerSecond;
  const t0 = performance.now();
  const connecting: Promise<void>[] = [];
  for (const [k, s] of students.entries()) {
    const due = t0 + k * gapMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const localAddress = job.localAddresses[(job.index + k * 7919) % job.localAddresses.length];
    const began = performance.now();
    connecting.push(
      connectStudent(job.url, tokens.issue({ sub: s.info.id, role: 'student', name: s.info.name }), { localAddress }).then(
        async (socket) => {
          histograms.connect.record(performance.now() - began);
          counters.connected++;
          s.socket = socket;
          socket.on('disconnect', (reason) => {
            if (!stopping) fail(`DISCONNECTED:${reason.replace(/\s+/g, '_')}`);
          });
          if (job.startWindowMs === 0) await start(s);
        },
        (err: unknown) => void fail(`connect:${errorCode(err)}`),
      ),
    );
  }
  await Promise.all(connecting);
  process.send!({ type: 'connected' } satisfies FromChild);
  const { startAt, answerAt } = await go;

  // 2. the start spike, everyone connected.
  if (job.startWindowMs > 0) {
    phase = 'start';
    await Promise.all(
      students.map(async (s) => {
        await sleepUntil(startAt + Math.random() * job.startWindowMs);
        await start(s);
      }),
    );
  }

  // 3. answers on a common clock.
  phase = 'answer';
  const answerUntil = answerAt + job.durationMs;
  let firstSend = Infinity;
  let lastAck = 0;
  const answerOnce = async (s: Student) => {
    const attempt = s.attempt!.attempt;
    const q = s.questions[s.n % s.questions.length]!;
    s.n++;
    const payload = { attemptId: attempt.id, questionId: q.id, optionId: q.options[s.n % q.options.length]!, seq: s.n };
    const began = performance.now();
    firstSend = Math.min(firstSend, Date.now());
    counters.sent++;
    counters.inflight++;
    try {
      for (let tries = 0; ; tries++) {
        if (!s.socket!.connected) return void fail('NOT_CONNECTED');
        const res = await sendAnswer(s.socket!, payload, ackTimeoutMs);
        if (res.ok) {
          histograms.ack.record(performance.now() - began);
          counters.acked++;
          lastAck = Date.now();
          let perAttempt = ledger.get(attempt.id);
          if (!perAttempt) ledger.set(attempt.id, (perAttempt = new Map()));
          perAttempt.set(q.id, Math.max(perAttempt.get(q.id) ?? 0, res.seq));
          return;
        }
        fail(res.error.code);
        if (!RETRYABLE.has(res.error.code) || tries >= 3) return;
        counters.retried++;
        await new Promise((r) => setTimeout(r, res.error.retryAfterMs ?? 500));
      }
    } finally {
      counters.inflight--;
    }
  };
  const spread = job.spreadMs ?? job.everyMs;
  await Promise.all(
    students.map(async (s) => {
      if (!s.attempt) return;
      const pending: Promise<void>[] = [];
      for (let at = answerAt + Math.random() * spread; at < answerUntil; at += job.everyMs) {
        await sleepUntil(at);
        pending.push(answerOnce(s));
      }
      await Promise.all(pending);
    }),
  );

  // Connected until the parent has measured the node (its samples come a second after the answers),
  // so that its figures hold every student and its statements per answer no submits.
  phase = 'hold';
  await Promise.race([released, sleepUntil(answerUntil + HOLD_MS)]);

  // 4. submit.
  if (job.submit) {
    phase = 'submit';
    await Promise.all(
      students.map(async (s) => {
        if (!s.attempt || !s.socket?.connected) return;
        await sleepUntil(Date.now() + Math.random() * 2000);
        const began = performance.now();
        const res = await submitAttempt(s.socket, s.attempt.attempt.id);
        if (res.ok) histograms.submit.record(performance.now() - began);
        else fail(`submit:${res.error.code}`);
      }),
    );
  }

  phase = 'done';
  stopping = true;
  clearInterval(report);
  lag.disable();
  for (const s of students) s.socket?.disconnect();
  return {
    connected: counters.connected,
    started: counters.started,
    sent: counters.sent,
    acked: counters.acked,
    retried: counters.retried,
    errors,
    connect: histograms.connect.toJSON(),
    start: histograms.start.toJSON(),
    ack: histograms.ack.toJSON(),
    submit: histograms.submit.toJSON(),
    ledger: [...ledger].flatMap(([a, qs]) => [...qs].map(([q, seq]): [number, number, number] => [a, q, seq])),
    answerWallMs: lastAck > 0 ? lastAck - firstSend : 0,
    clientLagP99Ms: Number((lag.percentile(99) / 1e6).toFixed(1)),
  };
}

if (process.argv.includes('--swarm-child') && process.send) {
  let release: (v: { startAt: number; answerAt: number }) => void = () => {};
  const go = new Promise<{ startAt: number; answerAt: number }>((r) => (release = r));
  let unhold: () => void = () => {};
  const released = new Promise<void>((r) => (unhold = r));
  // The parent gone (killed, crashed): stop too, never linger.
  process.on('disconnect', () => process.exit(1));
  process.on('message', (m: ToChild) => {
    if (m.type === 'go') release({ startAt: m.startAt, answerAt: m.answerAt });
    else if (m.type === 'release') unhold();
    else if (m.type === 'job') {
      runChild(m.job, go, released).then(
        (result) => process.send!({ type: 'done', result } satisfies FromChild, () => process.exit(0)),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
    }
  });
}
