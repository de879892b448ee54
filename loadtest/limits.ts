/**
 * `npm run loadtest:limits`: the ceilings our figures are read against, measured in the same run on
 * the same machine:
 * 1. a bare Socket.IO server (its own process, `/exam` acking `answer` at once, nothing else): how many
 *    acks per second the same load clients get from Socket.IO alone;
 * 2. the real server (one node, PostgreSQL, Redis) under the same closed loop: durable acks per second;
 * 3. raw multi-row inserts with `pg` into the real `attempt_answers` table (batches of 1,000 rows as
 *    unnest arrays, 2 connections, the writer's conflict clause, none of its checks): rows per second.
 * Closed loop: every socket keeps `--window` answers in flight for `--seconds`. Bounded; stops itself.
 *
 * Options: --sockets 1000 --seconds 15 --window 4 --processes 2 --env KEY=VALUE (server, repeatable)
 * --node-arg ARG (Node.js option of the server, repeatable) --label NAME
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Server } from 'socket.io';
import { TokenService } from '../server/auth/tokens.js';
import {
  EXAM_EVENTS,
  EXAM_NAMESPACE,
  type AttemptStartResult,
  type ExamClientToServerEvents,
  type ExamServerToClientEvents,
} from '../server/protocol.js';
import { LatencyHistogram, type HistogramData } from './histogram.js';
import { processUsage } from './nodes.js';
import { envPairs, withScratchServer } from './scratch.js';
import type { Seeded } from './seed.js';
import { connectStudent, sendAnswer, startAttempt, type StudentSocket } from './student.js';
import type { SwarmStudent } from './swarm.js';

const ROOT = path.join(import.meta.dirname, '..');
const QUESTIONS = 100;

interface ClientJob {
  url: string;
  students: SwarmStudent[];
  jwtSecret: string;
  examId: number;
  window: number;
  seconds: number;
}

interface ClientResult {
  acked: number;
  errors: Record<string, number>;
  ack: HistogramData;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------
// Child: the bare server

function fakeStart(attemptId: number): AttemptStartResult {
  const now = new Date().toISOString();
  return {
    attempt: { id: attemptId, status: 'in_progress', startedAt: now, deadlineAt: now, serverNow: now },
    exam: {
      id: 1,
      title: 'bare',
      sections: [
        {
          id: 1,
          title: 's',
          questions: Array.from({ length: QUESTIONS }, (_, q) => ({ id: q + 1, text: 'q', points: 1, options: [{ id: 1, text: 'o' }] })),
        },
      ],
    },
    answers: [],
  };
}

async function bareServer(): Promise<void> {
  const server = http.createServer();
  const io = new Server<ExamClientToServerEvents, ExamServerToClientEvents>(server, { transports: ['websocket'] });
  let attempts = 0;
  io.of(EXAM_NAMESPACE).on('connection', (socket) => {
    socket.on(EXAM_EVENTS.start, (_payload, ack) => ack({ ok: true, ...fakeStart(++attempts) }));
    socket.on(EXAM_EVENTS.answer, (payload, ack) => ack({ ok: true, seq: payload.seq }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.send!({ port: (server.address() as AddressInfo).port });
}

// ---------------------------------------------------------------------------------------------
// Child: the closed-loop client

async function closedLoop(job: ClientJob): Promise<ClientResult> {
  const tokens = new TokenService(job.jwtSecret, 3600);
  const sockets: { socket: StudentSocket; start: AttemptStartResult }[] = [];
  for (let i = 0; i < job.students.length; i += 200) {
    const batch = await Promise.all(
      job.students.slice(i, i + 200).map(async (s, k) => {
        const socket = await connectStudent(job.url, tokens.issue({ sub: s.id, role: 'student', name: s.name }), {
          localAddress: `127.0.2.${2 + ((i + k) % 250)}`,
        });
        const start = await startAttempt(socket, job.examId);
        if (!start.ok) throw new Error(`attempt:start refused: ${start.error.code}`);
        return { socket, start };
      }),
    );
    sockets.push(...batch);
  }
  const ack = new LatencyHistogram();
  const errors: Record<string, number> = {};
  const t0 = performance.now();
  const until = t0 + job.seconds * 1000;
  await Promise.all(
    sockets.map(async ({ socket, start }) => {
      const questions = start.exam.sections.flatMap((s) => s.questions);
      let n = 0;
      const lane = async () => {
        while (performance.now() < until) {
          const q = questions[n % questions.length]!;
          n++;
          const began = performance.now();
          const res = await sendAnswer(socket, { attemptId: start.attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: n });
          if (res.ok) ack.record(performance.now() - began);
          else errors[res.error.code] = (errors[res.error.code] ?? 0) + 1;
        }
      };
      await Promise.all(Array.from({ length: job.window }, lane));
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const { socket } of sockets) socket.disconnect();
  return { acked: ack.count, errors, ack: ack.toJSON(), seconds };
}

// ---------------------------------------------------------------------------------------------
// Parent

function child(args: string[]): ChildProcess {
  return fork(fileURLToPath(import.meta.url), args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

async function drive(url: string, seeded: Seeded, secret: string, o: { sockets: number; window: number; seconds: number; processes: number }, serverPid: number) {
  const before = processUsage(serverPid);
  const t0 = Date.now();
  let peakRss = before.rssBytes;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, processUsage(serverPid).rssBytes)), 500);
  const results = await Promise.all(
    Array.from({ length: o.processes }, async (_, i) => {
      const c = child(['--closed-loop-client']);
      try {
        const job: ClientJob = {
          url,
          students: seeded.students.filter((_, k) => k % o.processes === i),
          jwtSecret: secret,
          examId: seeded.examId,
          window: o.window,
          seconds: o.seconds,
        };
        c.send(job);
        const [result] = (await Promise.race([
          once(c, 'message'),
          new Promise((_r, reject) => setTimeout(() => reject(new Error('closed-loop client timed out')), (o.seconds + 120) * 1000)),
        ])) as [ClientResult];
        return result;
      } finally {
        c.kill();
      }
    }),
  );
  clearInterval(sampler);
  const after = processUsage(serverPid);
  const hist = LatencyHistogram.from(results.map((r) => r.ack));
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const seconds = Math.max(...results.map((r) => r.seconds));
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    acksPerSecond: Math.round(hist.count / seconds),
    // The clients share the 2 cores with the server: what one server core-second buys is the fair ceiling.
    acksPerServerCpuSecond: Math.round(hist.count / Math.max(0.01, cpuSeconds)),
    acked: hist.count,
    errors,
    ackMs: hist.summary(),
    serverCpuPercent: Number((((after.cpuSeconds - before.cpuSeconds) / ((Date.now() - t0) / 1000)) * 100).toFixed(0)),
    serverRssMB: Number((after.rssBytes / 2 ** 20).toFixed(0)),
    /** Peak RSS above the server's RSS before the sockets connected, per socket (includes in-flight garbage). */
    peakRssPerSocketKB: Number(((peakRss - before.rssBytes) / 1024 / o.sockets).toFixed(1)),
  };
}

async function rawInsert(databaseUrl: string, seconds: number) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const attempts = (await client.query<{ id: number }>('select id from attempts order by id')).rows.map((r) => r.id);
  const questions = (await client.query<{ id: number; option: number }>('select q.id, min(o.id) as option from questions q join options o on o.question_id = q.id group by q.id order by q.id')).rows;
  await client.query('truncate attempt_answers');
  await client.end();
  const rows: [number, number, number][] = attempts.flatMap((a) => questions.map((q): [number, number, number] => [a, q.id, q.option]));
  const batches: [number, number, number][][] = [];
  for (let i = 0; i < rows.length; i += 1000) batches.push(rows.slice(i, i + 1000));
  const sql = `insert into attempt_answers (attempt_id, question_id, option_id, seq, answered_at)
    select * from unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::timestamptz[])
    on conflict (attempt_id, question_id) do update set option_id = excluded.option_id, seq = excluded.seq, answered_at = excluded.answered_at
    where excluded.seq > attempt_answers.seq`;
  const pass = async (seq: number) => {
    let next = 0;
    let written = 0;
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    await Promise.all(
      [0, 1].map(async () => {
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        try {
          while (next < batches.length && performance.now() < until) {
            const b = batches[next++]!;
            const now = new Date();
            await c.query(sql, [b.map((r) => r[0]), b.map((r) => r[1]), b.map((r) => r[2]), b.map(() => seq), b.map(() => now)]);
            written += b.length;
          }
        } finally {
          await c.end();
        }
      }),
    );
    return { rows: written, rowsPerSecond: Math.round(written / ((performance.now() - t0) / 1000)) };
  };
  return { newRows: await pass(1), updatedRows: await pass(2) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sockets: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '15' },
      window: { type: 'string', default: '4' },
      processes: { type: 'string', default: '2' },
      env: { type: 'string', multiple: true, default: [] },
      'node-arg': { type: 'string', multiple: true, default: [] },
      label: { type: 'string', default: `limits-${new Date().toISOString().replace(/[:.]/g, '-')}` },
    },
  });
  const o = { sockets: Number(values.sockets), seconds: Number(values.seconds), window: Number(values.window), processes: Number(values.processes) };
  if (![o.sockets, o.seconds, o.window, o.processes].every((n) => Number.isInteger(n) && n > 0 && n <= 20_000)) {
    console.error('usage: npm run loadtest:limits -- [--sockets 1000] [--seconds 15] [--window 4] [--processes 2] [--env KEY=VALUE] [--node-arg ARG] [--label NAME]');
    process.exit(2);
  }
  const hardStop = setTimeout(() => {
    console.error('loadtest:limits: over its time limit, stopping');
    process.exit(1);
  }, (o.seconds * 3 + 300) * 1000);
  hardStop.unref();
  const loadAtStart = os.loadavg()[0]!;
  console.log(`limits: ${o.sockets} sockets × ${o.window} in flight for ${o.seconds} s, ${o.processes} client processes; load average ${loadAtStart.toFixed(2)}`);

  const bare = child(['--bare-server']);
  try {
    const [{ port }] = (await once(bare, 'message')) as [{ port: number }];
    // The closed loop answers as fast as acks come back: no per-socket limit here.
    const env = { RATE_LIMIT_ANSWERS: '100000/100000', RATE_LIMIT_OTHER: '1000/1000', ...envPairs(values.env) };
    await withScratchServer({ name: 'limits', students: o.sockets, questions: QUESTIONS, env, nodeArgs: values['node-arg'] }, async (scratch) => {
      const { seeded, secret } = scratch;
      const node = scratch.node!;
      console.log('1. bare Socket.IO ack server …');
      const bareResult = await drive(`http://127.0.0.1:${port}`, seeded, secret, o, bare.pid!);
      console.log(`   ${bareResult.acksPerSecond} acks/s (${bareResult.acksPerServerCpuSecond} per server CPU-second), p50 ${bareResult.ackMs.p50} ms, p99 ${bareResult.ackMs.p99} ms, server CPU ${bareResult.serverCpuPercent} %`);
      console.log('2. the real server (durable acks) …');
      const serverResult = await drive(node.url, seeded, secret, o, node.pid);
      console.log(`   ${serverResult.acksPerSecond} acks/s (${serverResult.acksPerServerCpuSecond} per server CPU-second), p50 ${serverResult.ackMs.p50} ms, p99 ${serverResult.ackMs.p99} ms, server CPU ${serverResult.serverCpuPercent} %, errors ${JSON.stringify(serverResult.errors)}`);
      await scratch.stopNode();
      console.log('3. raw multi-row insert with pg …');
      const raw = await rawInsert(scratch.databaseUrl, o.seconds);
      console.log(`   new rows ${raw.newRows.rowsPerSecond}/s, updates ${raw.updatedRows.rowsPerSecond}/s`);
      const summary = {
        label: values.label,
        date: new Date().toISOString(),
        command: `npm run loadtest:limits -- ${process.argv.slice(2).join(' ')}`,
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
        load: { atStart: Number(loadAtStart.toFixed(2)), atEnd: Number(os.loadavg()[0]!.toFixed(2)) },
        plan: { ...o, serverEnv: values.env, serverNodeArgs: values['node-arg'] },
        bareSocketIo: bareResult,
        server: serverResult,
        serverShareOfBare: Number((serverResult.acksPerSecond / bareResult.acksPerSecond).toFixed(3)),
        serverShareOfBarePerCpuSecond: Number((serverResult.acksPerServerCpuSecond / bareResult.acksPerServerCpuSecond).toFixed(3)),
        rawPgInsert: raw,
        serverShareOfRawInsert: Number((serverResult.acksPerSecond / raw.newRows.rowsPerSecond).toFixed(3)),
      };
      const dir = path.join(ROOT, 'loadtest/results', String(values.label));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'limits.json'), `${JSON.stringify(summary, null, 2)}\n`);
      console.log(`server: ${Math.round(summary.serverShareOfBare * 100)} % of the bare Socket.IO ack rate under the same clients (${Math.round(summary.serverShareOfBarePerCpuSecond * 100)} % per server CPU-second), ${Math.round(summary.serverShareOfRawInsert * 100)} % of the raw insert rate; saved ${path.join(dir, 'limits.json')}`);
    });
  } finally {
    bare.kill();
  }
}

if (process.argv.includes('--bare-server')) {
  process.on('disconnect', () => process.exit(0));
  void bareServer();
} else if (process.argv.includes('--closed-loop-client')) {
  process.on('disconnect', () => process.exit(1));
  process.once('message', (job: ClientJob) => {
    closedLoop(job).then(
      (result) => process.send!(result, () => process.exit(0)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
