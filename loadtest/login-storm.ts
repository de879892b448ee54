/**
 * `npm run loadtest:logins -- --logins 600 --concurrency 200 [--students 1000 --rate 0.1]`
 *
 * The login storm: `--logins` students log in through `POST /api/auth/login` (a real scrypt verify
 * each), `--concurrency` at a time, against one node; meanwhile `--students` already signed-in
 * students stream answers (the swarm), so the figure that matters is visible: what the storm does to
 * everyone else's acks. Also measures what one scrypt hash costs here at N = 2^14, 2^15, 2^16 (r=8,
 * p=1), for choosing the parameters by measurement. A refusal with `retryAfterMs` is retried after
 * that long (as the page does), and counted. Bounded; stops itself.
 */
import { randomBytes, scrypt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LatencyHistogram } from './histogram.js';
import { processUsage } from './nodes.js';
import { envPairs, withScratchServer } from './scratch.js';
import { LOADTEST_PASSWORD, studentEmail } from './seed.js';
import { runSwarm, type SwarmResult } from './swarm.js';

const ROOT = path.join(import.meta.dirname, '..');

async function scryptCost(N: number, samples = 8): Promise<{ N: number; msPerHash: number; hashesPerSecond4Threads: number }> {
  const one = () =>
    new Promise<void>((resolve, reject) =>
      scrypt('password', randomBytes(16), 32, { N, r: 8, p: 1, maxmem: 256 * 2 ** 20 }, (err) => (err ? reject(err) : resolve())),
    );
  await one();
  let t0 = performance.now();
  for (let i = 0; i < samples; i++) await one();
  const msPerHash = (performance.now() - t0) / samples;
  t0 = performance.now();
  await Promise.all(Array.from({ length: samples }, one));
  return { N, msPerHash: Number(msPerHash.toFixed(1)), hashesPerSecond4Threads: Math.round(samples / ((performance.now() - t0) / 1000)) };
}

interface LoginBody {
  error?: { code: string; retryAfterMs?: number };
}

async function storm(url: string, emails: string[], concurrency: number) {
  const latency = new LatencyHistogram();
  const errors: Record<string, number> = {};
  let retried = 0;
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < emails.length) {
      const email = emails[next++]!;
      const began = performance.now();
      for (let tries = 0; ; tries++) {
        let status = 0;
        let body: LoginBody = {};
        try {
          const res = await fetch(`${url}/api/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email, password: LOADTEST_PASSWORD }),
            signal: AbortSignal.timeout(120_000),
          });
          status = res.status;
          body = (await res.json()) as LoginBody;
        } catch (err) {
          body = { error: { code: err instanceof Error && err.name === 'TimeoutError' ? 'TIMEOUT' : 'NETWORK' } };
        }
        if (status === 200) {
          latency.record(performance.now() - began);
          break;
        }
        const code = body.error?.code ?? `HTTP_${status}`;
        errors[code] = (errors[code] ?? 0) + 1;
        if (body.error?.retryAfterMs === undefined || tries >= 20) break;
        retried++;
        await new Promise((r) => setTimeout(r, body.error!.retryAfterMs));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - t0) / 1000;
  return { logins: latency.count, seconds: Number(seconds.toFixed(1)), loginsPerSecond: Number((latency.count / seconds).toFixed(1)), latencyMs: latency.summary(), errors, retried };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      logins: { type: 'string', default: '600' },
      concurrency: { type: 'string', default: '200' },
      students: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '0.2' },
      env: { type: 'string', multiple: true, default: [] },
      label: { type: 'string', default: `logins-${new Date().toISOString().replace(/[:.]/g, '-')}` },
    },
  });
  const logins = Number(values.logins);
  const concurrency = Number(values.concurrency);
  const students = Number(values.students);
  const rate = Number(values.rate);
  if (![logins, concurrency].every((n) => Number.isInteger(n) && n > 0 && n <= 50_000) || !(students >= 0) || !(rate > 0)) {
    console.error('usage: npm run loadtest:logins -- [--logins 600] [--concurrency 200] [--students 1000] [--rate 0.2] [--env KEY=VALUE] [--label NAME]');
    process.exit(2);
  }
  const hardStop = setTimeout(() => {
    console.error('loadtest:logins: over its time limit, stopping');
    process.exit(1);
  }, 900_000);
  hardStop.unref();
  console.log(`login storm: ${logins} logins, ${concurrency} at a time, while ${students} students answer every ${1000 / rate} ms; load average ${os.loadavg()[0]!.toFixed(2)}`);

  const costs: Awaited<ReturnType<typeof scryptCost>>[] = [];
  for (const N of [1 << 14, 1 << 15, 1 << 16]) costs.push(await scryptCost(N));
  console.log(`scrypt here: ${costs.map((c) => `N=2^${Math.log2(c.N)} ${c.msPerHash} ms (${c.hashesPerSecond4Threads}/s on the 4 libuv threads)`).join(', ')}`);

  const extraEnv = envPairs(values.env);
  await withScratchServer(
    { name: 'logins', students: Math.max(students, logins), questions: 50, env: extraEnv },
    async ({ node: started, seeded, secret }) => {
      const node = started!;
      const before = processUsage(node.pid);
      const t0 = Date.now();
      // The answering students connect first (signed in earlier), then the storm begins at their answer phase.
      let stormResult: Awaited<ReturnType<typeof storm>> | undefined;
      let swarm: SwarmResult | undefined;
      const emails = Array.from({ length: logins }, (_, i) => studentEmail(i + 1));
      if (students > 0) {
        const durationMs = Math.ceil(((logins * costs[1]!.msPerHash) / 1000 / 1.5 + 20) * 1000);
        swarm = await runSwarm({
          url: node.url,
          students: seeded.students.slice(0, students),
          examId: seeded.examId,
          jwtSecret: secret,
          connectPerSecond: 500,
          startWindowMs: 0,
          everyMs: 1000 / rate,
          durationMs,
          submit: false,
          processes: Math.max(1, Math.min(4, Math.ceil(students / 2500))),
          localAddresses: ['127.0.3.2', '127.0.3.3', '127.0.3.4', '127.0.3.5'],
          onPhase: (phase) => {
            if (phase === 'answering') {
              void storm(node.url, emails, concurrency).then((r) => (stormResult = r));
            }
          },
        });
        // Answers stopped; a storm longer than the answer phase is still waited for (and said so).
        const until = Date.now() + 600_000;
        while (!stormResult && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      } else {
        stormResult = await storm(node.url, emails, concurrency);
      }
      const after = processUsage(node.pid);
      const answers = swarm
        ? { students, acked: swarm.acked, sent: swarm.sent, errors: swarm.errors, ackMs: LatencyHistogram.from([swarm.ack]).summary() }
        : null;
      const summary = {
        label: values.label,
        date: new Date().toISOString(),
        command: `npm run loadtest:logins -- ${process.argv.slice(2).join(' ')}`,
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavgAtEnd: Number(os.loadavg()[0]!.toFixed(2)) },
        serverEnv: extraEnv,
        scrypt: costs,
        storm: stormResult,
        answersDuringStorm: answers,
        serverCpuPercent: Number((((after.cpuSeconds - before.cpuSeconds) / ((Date.now() - t0) / 1000)) * 100).toFixed(0)),
      };
      const dir = path.join(ROOT, 'loadtest/results', String(values.label));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'logins.json'), `${JSON.stringify(summary, null, 2)}\n`);
      console.log(JSON.stringify(summary, null, 2));
      const ok = stormResult && stormResult.logins === logins && (!answers || Object.keys(answers.errors).length === 0);
      process.exitCode = ok ? 0 : 1;
    },
  );
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
