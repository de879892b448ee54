/**
 * One student floods, the others should not notice: `npm run loadtest:flood -- [--students 500]
 * [--every-ms 1000] [--flood-rate 1000] [--flood-sockets 20] [--seconds 20] [--label NAME]`.
 *
 * A scratch server (loadtest/scratch.ts) with the default limits. `--students` students answer once
 * every `--every-ms` (first phase: alone, the baseline; second phase: the same, while one more student,
 * in a child process of its own so that its sending does not slow the others' clients, tries to open
 * `--flood-sockets` sockets with one token and sends `--flood-rate` answers a second spread over the
 * sockets it got). Prints and saves (loadtest/results/<label>/flood.json) the others' ack latency in
 * each phase and their errors, and what the flood got: sockets admitted and refused, answers acked,
 * refused `RATE_LIMITED`, other codes. Bounded: each phase lasts `--seconds`, the whole run 5 minutes.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { TokenService } from '../server/auth/tokens.js';
import { LatencyHistogram } from './histogram.js';
import { processUsage } from './nodes.js';
import { envPairs, withScratchServer } from './scratch.js';
import type { SwarmStudent } from './swarm.js';
import { connectStudent, errorCode, sendAnswer, startAttempt, type StudentSocket } from './student.js';

const ROOT = path.join(import.meta.dirname, '..');

interface FloodJob {
  url: string;
  secret: string;
  student: SwarmStudent;
  examId: number;
  rate: number;
  sockets: number;
  seconds: number;
}

interface FloodResult {
  socketsAdmitted: number;
  socketsRefused: Record<string, number>;
  sent: number;
  acked: number;
  refused: Record<string, number>;
  ackMs: ReturnType<LatencyHistogram['summary']>;
}

const count = (m: Record<string, number>, code: string) => (m[code] = (m[code] ?? 0) + 1);

async function questionsOf(socket: StudentSocket, examId: number) {
  const res = await startAttempt(socket, examId);
  if (!res.ok) throw new Error(`attempt:start refused: ${res.error.code}`);
  return {
    attemptId: res.attempt.id,
    questions: res.exam.sections.flatMap((s) => s.questions.map((q) => ({ id: q.id, options: q.options.map((o) => o.id) }))),
  };
}

/** The flooding student (child process). */
async function flood(job: FloodJob): Promise<FloodResult> {
  const token = new TokenService(job.secret, 3600).issue({ sub: job.student.id, role: 'student', name: job.student.name });
  const sockets: StudentSocket[] = [];
  const socketsRefused: Record<string, number> = {};
  for (let i = 0; i < job.sockets; i++) {
    await connectStudent(job.url, token).then(
      (s) => sockets.push(s),
      (err: unknown) => count(socketsRefused, errorCode(err)),
    );
  }
  if (sockets.length === 0) throw new Error('the flooding student got no socket at all');
  const { attemptId, questions } = await questionsOf(sockets[0]!, job.examId);
  const refused: Record<string, number> = {};
  const ack = new LatencyHistogram();
  let sent = 0;
  let acked = 0;
  const pending: Promise<void>[] = [];
  const tickMs = 10;
  const perTick = job.rate / (1000 / tickMs);
  const until = performance.now() + job.seconds * 1000;
  let owed = 0;
  while (performance.now() < until) {
    owed += perTick;
    for (; owed >= 1; owed--) {
      const n = sent++;
      const q = questions[n % questions.length]!;
      const began = performance.now();
      pending.push(
        sendAnswer(sockets[n % sockets.length]!, { attemptId, questionId: q.id, optionId: q.options[n % q.options.length]!, seq: n + 1 }, 5000).then((res) => {
          if (res.ok) {
            acked++;
            ack.record(performance.now() - began);
          } else count(refused, res.error.code);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(pending);
  for (const s of sockets) s.disconnect();
  return { socketsAdmitted: sockets.length, socketsRefused, sent, acked, refused, ackMs: ack.summary() };
}

if (process.argv.includes('--flooder')) {
  process.once('message', (job: FloodJob) => {
    flood(job).then(
      (result) => process.send!(result, () => process.exit(0)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
  process.once('disconnect', () => process.exit(1));
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      students: { type: 'string', default: '500' },
      'every-ms': { type: 'string', default: '1000' },
      'flood-rate': { type: 'string', default: '1000' },
      'flood-sockets': { type: 'string', default: '20' },
      seconds: { type: 'string', default: '20' },
      env: { type: 'string', multiple: true, default: [] },
      label: { type: 'string', default: `flood-${new Date().toISOString().replace(/[:.]/g, '-')}` },
    },
  });
  const o = {
    students: Number(values.students),
    everyMs: Number(values['every-ms']),
    floodRate: Number(values['flood-rate']),
    floodSockets: Number(values['flood-sockets']),
    seconds: Number(values.seconds),
  };
  if (!(o.students >= 1 && o.students <= 5000 && o.everyMs >= 50 && o.floodRate >= 1 && o.floodRate <= 20_000 && o.floodSockets >= 1 && o.floodSockets <= 200 && o.seconds >= 5 && o.seconds <= 120)) {
    console.error('usage: npm run loadtest:flood -- [--students 1-5000] [--every-ms >=50] [--flood-rate 1-20000] [--flood-sockets 1-200] [--seconds 5-120] [--env KEY=VALUE] [--label NAME]');
    process.exit(2);
  }
  const hardStop = setTimeout(() => {
    console.error('loadtest:flood: over its time limit (5 min), stopping');
    process.exit(1);
  }, 300_000);
  hardStop.unref();
  const loadAtStart = os.loadavg()[0]!;
  console.log(`flood: ${o.students} students answering every ${o.everyMs} ms; then one more sends ${o.floodRate} answers/s over up to ${o.floodSockets} sockets; ${o.seconds} s each phase; load average ${loadAtStart.toFixed(2)}`);

  await withScratchServer({ name: 'flood', students: o.students + 1, questions: 50, env: envPairs(values.env) }, async ({ node, seeded, secret }) => {
    const url = node!.url;
    const tokens = new TokenService(secret, 3600);
    const others = seeded.students.slice(0, o.students);
    const flooder = seeded.students[o.students]!;
    const clients = await Promise.all(
      others.map(async (s, i) => {
        const socket = await connectStudent(url, tokens.issue({ sub: s.id, role: 'student', name: s.name }), { localAddress: `127.0.1.${2 + (i % 250)}` });
        return { socket, ...(await questionsOf(socket, seeded.examId)), seq: 0 };
      }),
    );
    const phases = { alone: new LatencyHistogram(), flooded: new LatencyHistogram() };
    const errors: Record<keyof typeof phases, Record<string, number>> = { alone: {}, flooded: {} };
    const answerFor = async (phase: keyof typeof phases) => {
      const until = performance.now() + o.seconds * 1000;
      await Promise.all(
        clients.map(async (c) => {
          await new Promise((r) => setTimeout(r, Math.random() * o.everyMs));
          while (performance.now() < until) {
            const q = c.questions[c.seq % c.questions.length]!;
            const began = performance.now();
            const res = await sendAnswer(c.socket, { attemptId: c.attemptId, questionId: q.id, optionId: q.options[0]!, seq: ++c.seq });
            if (res.ok) phases[phase].record(performance.now() - began);
            else count(errors[phase], res.error.code);
            await new Promise((r) => setTimeout(r, Math.max(0, o.everyMs - (performance.now() - began))));
          }
        }),
      );
    };
    const cpu0 = processUsage(node!.pid).cpuSeconds;
    console.log('1. the students alone …');
    await answerFor('alone');
    const cpu1 = processUsage(node!.pid).cpuSeconds;
    console.log('2. the same, with one student flooding …');
    const child = fork(import.meta.filename, ['--flooder'], { execArgv: ['--import', 'tsx'] });
    const floodDone = once(child, 'message') as Promise<[FloodResult]>;
    child.send({ url, secret, student: flooder, examId: seeded.examId, rate: o.floodRate, sockets: o.floodSockets, seconds: o.seconds } satisfies FloodJob);
    // The flooder connects first: give it a moment so that the phases overlap.
    await new Promise((r) => setTimeout(r, 500));
    await answerFor('flooded');
    const [floodResult] = await floodDone;
    const cpu2 = processUsage(node!.pid).cpuSeconds;
    for (const c of clients) c.socket.disconnect();

    const summary = {
      label: values.label,
      date: new Date().toISOString(),
      command: `npm run loadtest:flood -- ${process.argv.slice(2).join(' ')}`,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      load: { atStart: Number(loadAtStart.toFixed(2)), atEnd: Number(os.loadavg()[0]!.toFixed(2)) },
      plan: { ...o, serverEnv: values.env },
      others: {
        alone: { ackMs: phases.alone.summary(), errors: errors.alone, serverCpuPercent: Math.round(((cpu1 - cpu0) / o.seconds) * 100) },
        flooded: { ackMs: phases.flooded.summary(), errors: errors.flooded, serverCpuPercent: Math.round(((cpu2 - cpu1) / o.seconds) * 100) },
      },
      flood: floodResult,
    };
    const dir = path.join(ROOT, 'loadtest/results', String(values.label));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'flood.json'), `${JSON.stringify(summary, null, 2)}\n`);
    const line = (p: keyof typeof phases) =>
      `p50 ${summary.others[p].ackMs.p50} ms, p99 ${summary.others[p].ackMs.p99} ms, max ${summary.others[p].ackMs.max} ms, ${summary.others[p].ackMs.count} acks, errors ${JSON.stringify(summary.others[p].errors)}, server CPU ${summary.others[p].serverCpuPercent} %`;
    console.log(`others alone        ${line('alone')}`);
    console.log(`others, flooded     ${line('flooded')}`);
    console.log(
      `the flood           sockets ${floodResult.socketsAdmitted} admitted, refused ${JSON.stringify(floodResult.socketsRefused)}; ${floodResult.sent} sent, ${floodResult.acked} acked, refused ${JSON.stringify(floodResult.refused)}`,
    );
    console.log(`saved               ${path.join(dir, 'flood.json')}`);
    const othersOk = Object.keys(errors.alone).length === 0 && Object.keys(errors.flooded).length === 0;
    process.exitCode = othersOk ? 0 : 1;
  });
  process.exit(process.exitCode ?? 0);
}
