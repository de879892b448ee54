/**
 * `npm run loadtest -- --students N --rate R --duration S [--nodes 2] [--scenario swarm|exam-day|spike|invigilators]`
 *
 * One load test from nothing to a verdict: a scratch PostgreSQL database, the server (one node, or
 * several behind the shipped nginx configuration, with Redis), N students seeded fast, the scenario,
 * then one summary: students connected, start and ack latency, answers acked against answers in the
 * database (they must match: the run fails otherwise), errors by code, CPU and memory per node, SQL
 * statements per answer. The summary (JSON) and a latency picture (HTML with inline SVG) are saved
 * under loadtest/results/ (gitignored). Loopback only, bounded in time, and it stops what it started.
 *
 * Exit code: 0 when nothing was lost and every check passed, 1 otherwise, 2 on bad arguments.
 */
import type { Line } from './artillery/processor.js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LatencyHistogram, type HistogramData } from './histogram.js';
import { processUsage, scrapeMetrics, startNginx, startNode, stopProcess, type Proxy, type ServerNode } from './nodes.js';
import { renderReport } from './report.js';
import { answerRows, seedLoadTest, type Seeded } from './seed.js';
import { runSwarm, type SwarmProgress, type SwarmResult } from './swarm.js';

const ROOT = path.join(import.meta.dirname, '..');
const PG_URL = process.env.LOADTEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.LOADTEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCENARIOS = ['swarm', 'exam-day', 'spike', 'invigilators'] as const;

const USAGE = `usage: npm run loadtest -- [options]
  --students N        students seeded and connected (default 200)
  --rate R            answers per second per student (default 0.1: one every 10 s)
  --duration S        seconds of answering (default 30)
  --nodes 1|2         server nodes; 2 runs them behind deploy/nginx.conf (default 1)
  --scenario NAME     swarm (default), exam-day, spike, invigilators (Artillery: loadtest/artillery/)
  --connect-rate C    new sockets per second (default 500)
  --start-window S    0: each student starts as it connects (default); else all start within S seconds
  --spread MS         first answers spread over MS (default: the whole interval; small = a burst)
  --processes K       swarm client processes (default: one per 2,500 students, 1-6)
  --questions Q       questions in the exam (default: enough that no question is answered twice)
  --submit            every student submits at the end
  --invigilators M    invigilators seeded for the invigilators scenario (default 5; about one arrival in 200 watches)
  --cpu-prof          run the nodes with --cpu-prof (profiles under the results folder)
  --live-heap         also measure the live JS heap per student: a full GC on each node (SIGUSR2, with
                      --expose-gc) when idle and after the answers, then its heap in use (the GCs pause
                      the node outside the answer phase; not with --heapsnapshot-signal=SIGUSR2)
  --env KEY=VALUE     extra server environment (repeatable)
  --node-arg ARG      extra Node.js option for the nodes, e.g. --node-arg=--max-semi-space-size=64 (repeatable)
  --label NAME        name of the results folder (default: a timestamp)
  --max-seconds S     hard limit of the whole run (default: derived from the plan)`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function options() {
  const { values } = parseArgs({
    options: {
      students: { type: 'string', default: '200' },
      rate: { type: 'string', default: '0.1' },
      duration: { type: 'string', default: '30' },
      nodes: { type: 'string', default: '1' },
      scenario: { type: 'string', default: 'swarm' },
      'connect-rate': { type: 'string', default: '500' },
      'start-window': { type: 'string', default: '0' },
      spread: { type: 'string' },
      processes: { type: 'string' },
      questions: { type: 'string' },
      submit: { type: 'boolean', default: false },
      invigilators: { type: 'string', default: '5' },
      'cpu-prof': { type: 'boolean', default: false },
      'live-heap': { type: 'boolean', default: false },
      env: { type: 'string', multiple: true, default: [] },
      'node-arg': { type: 'string', multiple: true, default: [] },
      label: { type: 'string' },
      'max-seconds': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name: keyof typeof values, min: number, max: number): number => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < min || v > max) fail(`--${name} must be a number in ${min}..${max}`);
    return v;
  };
  const students = Math.round(num('students', 1, 100_000));
  const rate = num('rate', 0.001, 10);
  const duration = num('duration', 1, 3600);
  if (values['live-heap'] && values['node-arg'].some((a) => a.includes('heapsnapshot-signal=SIGUSR2'))) {
    fail('--live-heap uses SIGUSR2 for its garbage collection: give --heapsnapshot-signal another signal');
  }
  const scenario = SCENARIOS.find((s) => s === values.scenario) ?? fail(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  const everyMs = 1000 / rate;
  const answersEach = Math.ceil((duration * 1000) / everyMs);
  const env: Record<string, string> = {};
  for (const kv of values.env) {
    const eq = kv.indexOf('=');
    if (eq < 1) fail(`--env expects KEY=VALUE, got ${kv}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return {
    students,
    rate,
    duration,
    everyMs,
    nodes: Math.round(num('nodes', 1, 4)),
    scenario,
    connectRate: num('connect-rate', 1, 20_000),
    startWindowMs: num('start-window', 0, 600) * 1000,
    spreadMs: values.spread === undefined ? undefined : num('spread', 0, 3_600_000),
    processes: values.processes === undefined ? Math.max(1, Math.min(6, Math.ceil(students / 2500))) : Math.round(num('processes', 1, 32)),
    questions: values.questions === undefined ? Math.min(200, Math.max(10, answersEach + 1)) : Math.round(num('questions', 1, 1000)),
    submit: values.submit,
    invigilators: Math.round(num('invigilators', 0, 1000)),
    cpuProf: values['cpu-prof'],
    liveHeap: values['live-heap'],
    env,
    nodeArgs: values['node-arg'],
    label: values.label ?? new Date().toISOString().replace(/[:.]/g, '-'),
    maxSeconds: values['max-seconds'] === undefined ? undefined : num('max-seconds', 10, 7200),
  };
}
type Options = ReturnType<typeof options>;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

/** The load average and what else runs: a figure measured on a shared machine must say so. */
function loadNow() {
  const [one, five] = os.loadavg();
  return { loadavg1: Number(one!.toFixed(2)), loadavg5: Number(five!.toFixed(2)) };
}

interface NodeSample {
  cpuSeconds: number;
  rssBytes: number;
  statements: number;
  sockets: number;
  /** Question sets this node read from the database (the rest came from its memory or Redis). */
  examTreeLoads: number;
  /** V8's heap as committed (what RSS holds of it): in all, and its young generation. */
  heapTotalBytes: number;
  newSpaceBytes: number;
}

async function sample(node: ServerNode): Promise<NodeSample> {
  const usage = processUsage(node.pid);
  const metrics = await scrapeMetrics(node.url);
  return {
    ...usage,
    statements: metrics.get('db_statements_total') ?? NaN,
    sockets: metrics.get('sockets_connected{namespace="/exam"}') ?? NaN,
    examTreeLoads: metrics.get('question_cache_lookups_total{source="database"}') ?? NaN,
    heapTotalBytes: metrics.get('nodejs_heap_size_total_bytes') ?? NaN,
    newSpaceBytes: metrics.get('nodejs_heap_space_size_total_bytes{space="new"}') ?? NaN,
  };
}

/** Node options of `--live-heap`: SIGUSR2 runs a full garbage collection (loadtest/gc-on-signal.mjs). */
const GC_ON_SIGNAL = ['--expose-gc', '--import', path.join(ROOT, 'loadtest/gc-on-signal.mjs')];

/** The JS heap a node retains: a full GC first (a node started with GC_ON_SIGNAL), then its /metrics. */
async function liveHeapBytes(node: ServerNode): Promise<number> {
  process.kill(node.pid, 'SIGUSR2');
  // The collection runs on the node's main thread: its next /metrics answer comes after it.
  await new Promise((r) => setTimeout(r, 200));
  const metrics = await scrapeMetrics(node.url);
  return metrics.get('nodejs_heap_size_used_bytes') ?? NaN;
}

/** Kills what the hard time limit must not leave behind (besides the nodes and nginx). */
const stopChildren = new Set<() => void>();

const mb = (b: number) => Number((b / 2 ** 20).toFixed(1));

/** Artillery scenarios report through files (one line per virtual user) in `dir`. */
type ArtilleryLine = Line;

async function runArtillery(o: Options, url: string, seeded: Seeded, secret: string, dir: string, onPhase: (p: 'answering' | 'answered') => void): Promise<SwarmResult & { extra: Record<string, HistogramData> }> {
  const ledgerDir = await mkdtemp(path.join(os.tmpdir(), 'exam-artillery-'));
  const file = path.join(ROOT, 'loadtest/artillery', `${o.scenario}.yml`);
  const out = path.join(dir, 'artillery-report.json');
  const studentsFile = path.join(ledgerDir, 'students.json');
  writeFileSync(studentsFile, JSON.stringify({ students: seeded.students, invigilators: seeded.invigilators }));
  const arrival = Math.max(1, Math.round(o.students / Math.max(1, o.startWindowMs / 1000 || o.students / o.connectRate)));
  const env = {
    ...process.env,
    LOADTEST_TARGET: url,
    LOADTEST_JWT_SECRET: secret,
    LOADTEST_EXAM_ID: String(seeded.examId),
    LOADTEST_STUDENTS_FILE: studentsFile,
    LOADTEST_LEDGER_DIR: ledgerDir,
    LOADTEST_STUDENTS: String(o.students),
    LOADTEST_ARRIVAL_RATE: String(arrival),
    LOADTEST_ARRIVAL_SECONDS: String(Math.max(1, Math.ceil(o.students / arrival))),
    LOADTEST_THINK_MS: String(Math.round(o.everyMs)),
    LOADTEST_ANSWERS: String(Math.max(1, Math.ceil((o.duration * 1000) / o.everyMs))),
    LOADTEST_INVIGILATORS: String(o.invigilators),
    WORKERS: '1',
  };
  onPhase('answering');
  // Artillery writes its CommonJS bundle of processor.ts to dist/processor.js; in this ESM package a
  // .js file is ESM unless the nearest package.json says otherwise.
  mkdirSync(path.join(ROOT, 'loadtest/artillery/dist'), { recursive: true });
  writeFileSync(path.join(ROOT, 'loadtest/artillery/dist/package.json'), '{ "type": "commonjs" }\n');
  const overrides = {
    config: {
      target: url,
      phases: [{ name: 'arrivals', duration: Number(env.LOADTEST_ARRIVAL_SECONDS), arrivalRate: arrival, rampTo: arrival }],
    },
  };
  const args = ['run', '--output', out, '--overrides', JSON.stringify(overrides), file];
  const child = spawn(path.join(ROOT, 'node_modules/.bin/artillery'), args, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = once(child, 'exit');
  // Bounded: the plan's own length plus a margin, then Artillery is stopped.
  const limitMs = (Number(env.LOADTEST_ARRIVAL_SECONDS) + (Number(env.LOADTEST_ANSWERS) * o.everyMs * 1.1) / 1000 + 90) * 1000;
  const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
  stopChildren.add(() => child.kill('SIGKILL'));
  const [code] = (await exited) as [number | null];
  clearTimeout(limit);
  onPhase('answered');
  const lines: ArtilleryLine[] = readdirSync(ledgerDir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(path.join(ledgerDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ArtilleryLine));
  await rm(ledgerDir, { recursive: true, force: true });
  const hist = (k: 'connect' | 'start' | 'ack' | 'submit' | 'watch' | 'roster', role?: ArtilleryLine['role']) => {
    const h = new LatencyHistogram();
    for (const l of lines) if (!role || l.role === role) for (const v of l[k]) h.record(v);
    return h.toJSON();
  };
  const errors: Record<string, number> = {};
  for (const l of lines) for (const [c, n] of Object.entries(l.errors)) errors[c] = (errors[c] ?? 0) + n;
  if (code !== 0) errors[`artillery-exit:${code}`] = 1;
  // Artillery's own account: virtual users that failed (a connect error, a thrown step) and its error counters.
  try {
    const report = JSON.parse(readFileSync(out, 'utf8')) as { aggregate?: { counters?: Record<string, number> } };
    for (const [name, n] of Object.entries(report.aggregate?.counters ?? {})) {
      if (name === 'vusers.failed' && n > 0) errors['artillery:vusers.failed'] = n;
      else if (name.startsWith('errors.')) errors[`artillery:${name}`] = n;
    }
  } catch {
    errors['artillery:no-report'] = 1;
  }
  const ack = hist('ack');
  return {
    connected: hist('connect', 'student').count,
    started: hist('start').count,
    sent: lines.reduce((s, l) => s + l.sent, 0),
    acked: ack.count,
    retried: 0,
    errors,
    connect: hist('connect', 'student'),
    start: hist('start'),
    ack,
    submit: hist('submit'),
    ledger: lines.flatMap((l) => l.ledger),
    answerWallMs: NaN,
    clientLagP99Ms: NaN,
    extra: {
      ...(lines.some((l) => l.role === 'invigilator')
        ? { 'invigilator connect (ms)': hist('connect', 'invigilator'), 'exam:watch ack (ms)': hist('watch'), 'roster:update after answer ack (ms)': hist('roster') }
        : {}),
    },
  };
}

async function main(): Promise<number> {
  const o = options();
  const resultsDir = path.join(ROOT, 'loadtest/results', o.label);
  mkdirSync(resultsDir, { recursive: true });
  const plannedSeconds = o.students / o.connectRate + o.startWindowMs / 1000 + o.duration + 120 + (o.submit ? 30 : 0);
  const maxSeconds = o.maxSeconds ?? Math.ceil(plannedSeconds * 1.5 + 60);
  const loadAtStart = loadNow();
  console.log(
    `loadtest ${o.scenario}: ${o.students} students, an answer every ${o.everyMs} ms each for ${o.duration} s, ${o.nodes} node(s); ` +
      `load average ${loadAtStart.loadavg1} (${loadAtStart.loadavg1 > 1 ? 'SHARED machine: figures are not quiet' : 'quiet'}); stops itself after ${maxSeconds} s`,
  );

  const dbName = `exam_loadtest_${randomBytes(4).toString('hex')}`;
  const dbUrl = new URL(PG_URL);
  dbUrl.pathname = `/${dbName}`;
  const secret = randomBytes(32).toString('base64url');
  const prefix = `loadtest-${randomBytes(3).toString('hex')}:`;
  const nodes: ServerNode[] = [];
  let proxy: Proxy | null = null;
  let killed = false;
  /** Stops everything this run started, for the time limit and for SIGINT/SIGTERM (Ctrl-C, `timeout`). */
  const abort = (why: string) => {
    if (killed) return;
    killed = true;
    console.error(`loadtest: ${why}; stopping everything`);
    for (const n of nodes) n.process.kill('SIGKILL');
    for (const stop of stopChildren) stop();
    setTimeout(() => process.exit(1), 10_000).unref();
    void (async () => {
      await proxy?.stop().catch(() => {});
      await admin(`drop database if exists "${dbName}" with (force)`).catch(() => {});
      const { deleteKeysWithPrefix } = await import('../server/cache/redis.js');
      await deleteKeysWithPrefix(REDIS_URL, prefix).catch(() => {});
      process.exit(1);
    })();
  };
  const hardStop = setTimeout(() => abort(`still running after ${maxSeconds} s`), maxSeconds * 1000);
  process.once('SIGINT', () => abort('interrupted'));
  process.once('SIGTERM', () => abort('terminated'));
  hardStop.unref();

  await admin(`create database "${dbName}"`);
  try {
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      JWT_SECRET: secret,
      LOG_LEVEL: 'warn',
      TRUST_PROXY: '127.0.0.1',
      ...o.env,
    };
    const nodeArgs = (i: number) => [
      ...(o.liveHeap ? GC_ON_SIGNAL : []),
      ...o.nodeArgs,
      ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resultsDir}`, `--cpu-prof-name=node${i + 1}.cpuprofile`] : []),
    ];
    // The first node migrates the new database; the others start once it has.
    nodes.push(await startNode(0, env, nodeArgs(0)));
    for (let i = 1; i < o.nodes; i++) nodes.push(await startNode(i, env, nodeArgs(i)));
    if (o.nodes > 1) proxy = await startNginx(nodes.map((n) => new URL(n.url).host), 4, resultsDir);
    const url = proxy?.url ?? nodes[0]!.url;

    const seeded = await seedLoadTest(dbUrl.toString(), nodes[0]!.url, {
      students: o.students,
      invigilators: o.scenario === 'invigilators' ? o.invigilators : 1,
      questions: o.questions,
      durationSeconds: Math.ceil(plannedSeconds * 2 + 3600),
    });
    console.log(`seeded ${seeded.students.length} students, exam ${seeded.examId} (${seeded.questions} questions) in ${seeded.seconds} s`);
    await new Promise((r) => setTimeout(r, 2000));
    const idle = await Promise.all(nodes.map(sample));
    const idleHeap = o.liveHeap ? await Promise.all(nodes.map(liveHeapBytes)) : [];
    let answeredHeap: number[] = [];
    const marks: { answering?: NodeSample[]; answered?: NodeSample[]; answeringAt?: number; answeredAt?: number } = {};
    const peakRss = idle.map((s) => s.rssBytes);
    const peakSockets = nodes.map(() => 0);
    /** Each node's longest event-loop stall (prom-client's lag histogram, reset at every scrape): last 5 s, and over the run. */
    const lagMs = nodes.map(() => 0);
    const peakLagMs = nodes.map(() => 0);
    /** The swarm keeps its sockets connected until the promise of 'answered' settles. */
    const onPhase = async (phase: 'answering' | 'answered') => {
      const at = Date.now();
      const s = await Promise.all(nodes.map(sample));
      marks[phase] = s;
      marks[`${phase}At`] = at;
      if (phase === 'answered' && o.liveHeap) answeredHeap = await Promise.all(nodes.map(liveHeapBytes));
    };
    let lastLine = '';
    const began = Date.now();
    const onProgress = (p: SwarmProgress) => {
      nodes.forEach((n, i) => {
        try {
          peakRss[i] = Math.max(peakRss[i]!, processUsage(n.pid).rssBytes);
        } catch {
          // the node exited; its absence shows in the summary
        }
      });
      const rss = nodes.map((n, i) => `${mb(peakRss[i]!)}`).join('/');
      const head = `[${Math.round((Date.now() - began) / 1000)} s] ${p.phase}`;
      const lag = lagMs.map((l) => Math.round(l)).join('/');
      const tail = `server RSS ${rss} MB, event-loop stall ${lag} ms; load ${os.loadavg()[0]!.toFixed(1)}`;
      if (Number.isNaN(p.connected)) return console.log(`${head}: Artillery running (its own report follows every 10 s); ${tail}`);
      const line = `${head}: connected ${p.connected}, started ${p.started}, answers sent ${p.sent}, acked ${p.acked}, in flight ${p.inflight}, errors ${p.errors}; ${tail}`;
      if (line !== lastLine) console.log(line);
      lastLine = line;
    };
    const sockets = setInterval(() => {
      nodes.forEach((n, i) =>
        void scrapeMetrics(n.url).then(
          (m) => {
            peakSockets[i] = Math.max(peakSockets[i]!, m.get('sockets_connected{namespace="/exam"}') ?? 0);
            lagMs[i] = (m.get('nodejs_eventloop_lag_max_seconds') ?? 0) * 1000;
            peakLagMs[i] = Math.max(peakLagMs[i]!, lagMs[i]!);
          },
          () => {},
        ),
      );
    }, 5000);

    let result: SwarmResult & { extra?: Record<string, HistogramData> };
    try {
      if (o.scenario === 'swarm') {
        result = await runSwarm({
          url,
          students: seeded.students,
          examId: seeded.examId,
          jwtSecret: secret,
          connectPerSecond: o.connectRate,
          startWindowMs: o.startWindowMs,
          everyMs: o.everyMs,
          spreadMs: o.spreadMs,
          durationMs: o.duration * 1000,
          submit: o.submit,
          processes: o.processes,
          localAddresses: Array.from({ length: 200 }, (_, i) => `127.0.${1 + Math.floor(i / 250)}.${2 + (i % 250)}`),
          onProgress,
          onPhase,
        });
      } else {
        const ticker = setInterval(() => onProgress({ phase: o.scenario, connected: NaN, started: NaN, sent: NaN, acked: NaN, errors: NaN, inflight: NaN }), 5000);
        try {
          result = await runArtillery(o, url, seeded, secret, resultsDir, onPhase);
        } finally {
          clearInterval(ticker);
        }
      }
    } finally {
      clearInterval(sockets);
    }
    await new Promise((r) => setTimeout(r, 500));
    const end = await Promise.all(nodes.map(sample));

    // The ledger against the database: every acked answer must be there, at its acked seq or later.
    const rows = await answerRows(dbUrl.toString());
    const acked = new Map<string, number>();
    for (const [a, q, seq] of result.ledger) acked.set(`${a}:${q}`, Math.max(acked.get(`${a}:${q}`) ?? 0, seq));
    let lost = 0;
    for (const [key, seq] of acked) if ((rows.get(key) ?? -1) < seq) lost++;
    const unacked = [...rows.keys()].filter((k) => !acked.has(k)).length;

    const answering = marks.answering ?? idle;
    const answered = marks.answered ?? end;
    const wallS = ((marks.answeredAt ?? Date.now()) - (marks.answeringAt ?? began)) / 1000;
    const statements = answered.reduce((s, n, i) => s + n.statements - answering[i]!.statements, 0);
    const perNode = nodes.map((n, i) => {
      const students = Math.max(peakSockets[i]!, answering[i]!.sockets, answered[i]!.sockets);
      const steadyRss = answered[i]!.rssBytes;
      peakRss[i] = Math.max(peakRss[i]!, steadyRss, end[i]!.rssBytes);
      return {
        node: i + 1,
        studentsConnected: students,
        idleRssMB: mb(idle[i]!.rssBytes),
        steadyRssMB: mb(steadyRss),
        // V8's committed heap at the same moment, and the part of it that is the young generation.
        steadyHeapTotalMB: mb(answered[i]!.heapTotalBytes),
        steadyNewSpaceMB: mb(answered[i]!.newSpaceBytes),
        idleHeapTotalMB: mb(idle[i]!.heapTotalBytes),
        peakRssMB: mb(peakRss[i]!),
        eventLoopStallMaxMs: Math.round(peakLagMs[i]!),
        rssPerStudentKB: students ? Number(((steadyRss - idle[i]!.rssBytes) / 1024 / students).toFixed(1)) : null,
        ...(o.liveHeap
          ? {
              idleHeapMB: mb(idleHeap[i]!),
              answeredHeapMB: mb(answeredHeap[i] ?? NaN),
              liveHeapPerStudentKB: students ? Number((((answeredHeap[i] ?? NaN) - idleHeap[i]!) / 1024 / students).toFixed(1)) : null,
            }
          : {}),
        peakRssPerStudentKB: students ? Number(((peakRss[i]! - idle[i]!.rssBytes) / 1024 / students).toFixed(1)) : null,
        cpuPercentAnswering: Number((((answered[i]!.cpuSeconds - answering[i]!.cpuSeconds) / wallS) * 100).toFixed(1)),
        cpuSecondsTotal: Number((end[i]!.cpuSeconds - idle[i]!.cpuSeconds).toFixed(1)),
        statementsAnswering: answered[i]!.statements - answering[i]!.statements,
        examTreeLoads: end[i]!.examTreeLoads,
      };
    });
    const errorCount = Object.values(result.errors).reduce((a, b) => a + b, 0);
    const failures: string[] = [];
    if (lost > 0) failures.push(`${lost} acked answers are not in the database`);
    if (rows.size !== acked.size) failures.push(`answers in the database (${rows.size}) differ from distinct acked answers (${acked.size})`);
    if (errorCount > 0) failures.push(`${errorCount} errors`);
    // Artillery picks each arrival's scenario by weight, so there a failed connect shows as a failed virtual user instead.
    if (o.scenario === 'swarm' && result.connected < o.students) failures.push(`${o.students - result.connected} students never connected`);
    if (result.started < result.connected) failures.push(`${result.connected - result.started} connected students never started`);
    if (killed) failures.push('stopped by the time limit');

    const summary = {
      label: o.label,
      date: new Date().toISOString(),
      command: `npm run loadtest -- ${process.argv.slice(2).join(' ')}`,
      machine: machine(),
      // Only the load before the run says whether others were using the machine: at the end it includes this run's own.
      load: { atStart: loadAtStart, atEnd: loadNow(), shared: loadAtStart.loadavg1 > 1 },
      plan: { scenario: o.scenario, students: o.students, answerEveryMs: o.everyMs, durationS: o.duration, nodes: o.nodes, connectPerSecond: o.connectRate, startWindowS: o.startWindowMs / 1000, spreadMs: o.spreadMs ?? o.everyMs, processes: o.processes, questions: o.questions, submit: o.submit, serverEnv: o.env, nodeArgs: o.nodeArgs, liveHeap: o.liveHeap },
      seedSeconds: seeded.seconds,
      students: { seeded: seeded.students.length, connected: result.connected, started: result.started },
      connectMs: LatencyHistogram.from([result.connect]).summary(),
      startMs: LatencyHistogram.from([result.start]).summary(),
      ackMs: LatencyHistogram.from([result.ack]).summary(),
      submitMs: LatencyHistogram.from([result.submit]).summary(),
      otherMs: Object.fromEntries(Object.entries(result.extra ?? {}).map(([k, v]) => [k, LatencyHistogram.from([v]).summary()])),
      answers: {
        sent: result.sent,
        acked: result.acked,
        distinctAcked: acked.size,
        inDatabase: rows.size,
        lost,
        writtenNotAcked: unacked,
        retried: result.retried,
        ackedPerSecond: Number((result.acked / (Number.isFinite(result.answerWallMs) && result.answerWallMs > 0 ? result.answerWallMs / 1000 : wallS)).toFixed(1)),
      },
      errors: result.errors,
      nodes: perNode,
      sql: { statementsWhileAnswering: statements, perAnswer: result.acked ? Number((statements / result.acked).toFixed(4)) : null },
      clientLagP99Ms: result.clientLagP99Ms,
      ok: failures.length === 0,
      failures,
    };
    const histograms: Record<string, HistogramData> = {
      'answer ack (ms)': result.ack,
      'attempt:start ack (ms)': result.start,
      'connect (ms)': result.connect,
      ...(result.submit.count ? { 'submit ack (ms)': result.submit } : {}),
      ...(result.extra ?? {}),
    };
    writeFileSync(path.join(resultsDir, 'summary.json'), `${JSON.stringify({ ...summary, histograms }, null, 2)}\n`);
    writeFileSync(path.join(resultsDir, 'latency.html'), renderReport(`loadtest ${o.label}`, histograms, summary));
    printSummary(summary, resultsDir);
    for (const n of nodes) {
      const log = n.log().trim();
      if (log) console.log(`node ${n.index + 1} log (warnings and errors, last 2,000 characters):\n${log.slice(-2000)}`);
    }
    return summary.ok ? 0 : 1;
  } finally {
    await proxy?.stop().catch(() => {});
    await Promise.all(nodes.map((n) => stopProcess(n.process)));
    await admin(`drop database if exists "${dbName}" with (force)`).catch((err: unknown) => console.error(err));
    const { deleteKeysWithPrefix } = await import('../server/cache/redis.js');
    await deleteKeysWithPrefix(REDIS_URL, prefix).catch(() => {});
    clearTimeout(hardStop);
  }
}

function printSummary(s: Record<string, unknown> & { [k: string]: unknown }, dir: string): void {
  const j = JSON.parse(JSON.stringify(s)) as {
    students: { connected: number; seeded: number; started: number };
    connectMs: { p50: number; p99: number };
    startMs: { p50: number; p99: number; max: number };
    ackMs: { p50: number; p95: number; p99: number; max: number };
    submitMs: { count: number; p50: number; p99: number };
    otherMs: Record<string, { count: number; p50: number; p99: number; max: number }>;
    answers: { sent: number; acked: number; distinctAcked: number; inDatabase: number; lost: number; ackedPerSecond: number; retried: number };
    errors: Record<string, number>;
    nodes: { node: number; studentsConnected: number; idleRssMB: number; steadyRssMB: number; peakRssMB: number; idleHeapTotalMB: number; steadyHeapTotalMB: number; steadyNewSpaceMB: number; rssPerStudentKB: number | null; cpuPercentAnswering: number; examTreeLoads: number; eventLoopStallMaxMs?: number; idleHeapMB?: number; answeredHeapMB?: number; liveHeapPerStudentKB?: number | null }[];
    sql: { perAnswer: number | null; statementsWhileAnswering: number };
    load: { atStart: { loadavg1: number }; atEnd: { loadavg1: number }; shared: boolean };
    clientLagP99Ms: number;
    ok: boolean;
    failures: string[];
  };
  const lines = [
    '',
    `=== loadtest summary (${dir}) ===`,
    `students connected  ${j.students.connected} / ${j.students.seeded} (started ${j.students.started}); connect p50 ${j.connectMs.p50} ms, p99 ${j.connectMs.p99} ms`,
    `attempt:start       p50 ${j.startMs.p50} ms, p99 ${j.startMs.p99} ms, max ${j.startMs.max} ms`,
    `answers             sent ${j.answers.sent}, acked ${j.answers.acked} (distinct ${j.answers.distinctAcked}), in the database ${j.answers.inDatabase}, lost ${j.answers.lost}; ${j.answers.ackedPerSecond} acked/s`,
    `answer ack          p50 ${j.ackMs.p50} ms, p95 ${j.ackMs.p95} ms, p99 ${j.ackMs.p99} ms, max ${j.ackMs.max} ms`,
    ...(j.submitMs.count ? [`submit ack          p50 ${j.submitMs.p50} ms, p99 ${j.submitMs.p99} ms (${j.submitMs.count})`] : []),
    ...Object.entries(j.otherMs).map(([k, v]) => `${k.padEnd(19)} p50 ${v.p50}, p99 ${v.p99}, max ${v.max} (${v.count})`),
    `errors by code      ${Object.keys(j.errors).length ? JSON.stringify(j.errors) : 'none'}${j.answers.retried ? ` (${j.answers.retried} retried)` : ''}`,
    ...j.nodes.map(
      (n) =>
        `node ${n.node}              ${n.studentsConnected} students; CPU ${n.cpuPercentAnswering} % of a core while answering; RSS idle ${n.idleRssMB} MB, steady ${n.steadyRssMB} MB, peak ${n.peakRssMB} MB = ${n.rssPerStudentKB ?? '-'} KB per student above idle (V8 heap committed ${n.idleHeapTotalMB} → ${n.steadyHeapTotalMB} MB, young generation ${n.steadyNewSpaceMB} MB);${n.idleHeapMB === undefined ? '' : ` live heap ${n.idleHeapMB} → ${n.answeredHeapMB} MB = ${n.liveHeapPerStudentKB ?? '-'} KB per student;`} exam tree read from the database ${n.examTreeLoads}×${n.eventLoopStallMaxMs === undefined ? '' : `; longest event-loop stall ${n.eventLoopStallMaxMs} ms`}`,
    ),
    `SQL per answer      ${j.sql.perAnswer ?? '-'} (${j.sql.statementsWhileAnswering} statements while answering, db_statements_total)`,
    `machine load        ${j.load.atStart.loadavg1} before the run${j.load.shared ? ' (shared: not a quiet figure)' : ' (quiet)'}, ${j.load.atEnd.loadavg1} at its end (its own load included); client event-loop lag p99 ${j.clientLagP99Ms} ms`,
    j.ok ? 'RESULT              ok: every acked answer is in the database, no errors' : `RESULT              FAILED: ${j.failures.join('; ')}`,
    `saved               ${path.join(dir, 'summary.json')}, ${path.join(dir, 'latency.html')}`,
  ];
  console.log(lines.join('\n'));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
