/**
 * The servers under test, as an operator runs them: each node its own `server/main.ts` process (so its
 * CPU and memory are its own, read from /proc), on loopback, and for several nodes the shipped
 * deploy/nginx.conf rendered in front of them, as tests/deploy-nginx.test.ts does. Everything started
 * here is stopped by `stop()`; each process also dies with the runner (SIGTERM on exit).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { renderSite } from '../deploy/render-site.js';

const ROOT = path.join(import.meta.dirname, '..');
const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS = 100;

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
export function processUsage(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) in parentheses: utime is the 14th field.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds, rssBytes: Number(rss?.[1] ?? 0) * 1024 };
}

export interface ServerNode {
  index: number;
  url: string;
  pid: number;
  process: ChildProcess;
  /** What the node wrote to stderr/stdout (warnings and errors: it runs at LOG_LEVEL=warn). */
  log: () => string;
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server at ${url} not ready within ${timeoutMs} ms:\n${log()}`);
}

/**
 * The Node.js options a server node runs with, as `npm start` gives them (package.json; a test keeps
 * the two equal). A young generation of at most 8 MB per semi-space instead of V8's default (up to 64
 * MB here): with thousands of sockets the allocation rate grows the default one to its maximum, which
 * RSS then holds; 8 MB takes a third or more off the memory per connected student for a few percent
 * of CPU (docs/benchmarks.md, "Memory per student").
 */
export const SERVER_NODE_OPTIONS = ['--max-semi-space-size=8'];

/**
 * Starts one node (`node --max-semi-space-size=8 --import tsx server/main.ts`, as `npm start`) with
 * `env`, resolves once `/readyz` says ready. `extraArgs` come after the defaults (a later option wins).
 */
export async function startNode(index: number, env: Record<string, string>, extraArgs: string[] = []): Promise<ServerNode> {
  const port = await freePort();
  const child = spawn(process.execPath, [...SERVER_NODE_OPTIONS, ...extraArgs, '--import', 'tsx', path.join(ROOT, 'server/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output += d.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child, () => output, 60_000);
  return { index, url, pid: child.pid!, process: child, log: () => output };
}

/** SIGTERM (the node drains its buffers and exits), SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 25_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** `GET /metrics` of a node, as name{labels} -> value. */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// nginx

/**
 * The main nginx.conf around the site, sized for a load test: a proxied socket holds two descriptors
 * (client and node) and a process may hold 20,000 here, so the sockets are spread over `workers`
 * processes by the kernel (`reuseport` on the listen line).
 */
function mainConfig(dir: string, site: string, workers: number): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  return `worker_processes ${workers};
worker_rlimit_nofile 19000;
error_log ${dir}/error.log warn;
events { worker_connections 18000; multi_accept on; }
http {
  access_log off;
${temp}
  include ${dir}/${site};
}
`;
}

export interface Proxy {
  url: string;
  pids: () => number[];
  stop(): Promise<void>;
}

/**
 * Starts nginx (not as a daemon) from deploy/nginx.conf in front of `upstreams` on a free loopback port.
 * `keepLogIn`: a folder where its error log is kept at `stop()` when it logged anything (502s, upstream
 * timeouts: the proxy's side of a failed connect).
 */
export async function startNginx(upstreams: string[], workers: number, keepLogIn?: string): Promise<Proxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'exam-loadtest-nginx-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const template = readFileSync(path.join(ROOT, 'deploy/nginx.conf'), 'utf8');
  await writeFile(path.join(dir, 'site.conf'), renderSite(template, upstreams, `127.0.0.1:${port} reuseport`));
  await writeFile(path.join(dir, 'nginx.conf'), mainConfig(dir, 'site.conf', workers));
  const args = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'), '-g', `daemon off; pid ${dir}/nginx.pid;`];
  const child = spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`nginx not answering on ${url}: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const workerPids = () => {
    try {
      return readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  return {
    url,
    pids: () => [child.pid!, ...workerPids()],
    stop: async () => {
      await stopProcess(child, 5000);
      const log = path.join(dir, 'error.log');
      if (keepLogIn && (await stat(log).catch(() => null))?.size) await copyFile(log, path.join(keepLogIn, 'nginx-error.log'));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
