/**
 * The shipped deployment (deploy/nginx.conf) in front of two real nodes: Debian's nginx, rendered from
 * the same file with the upstream servers and the listen port substituted. Through it, a student over
 * WebSocket and one over long-polling only start and answer, and an invigilator on the other node sees
 * their progress live. Which node each client lands on is read from the nodes themselves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderSite } from '../deploy/render-site.js';
import { loadConfig } from '../server/config.js';
import { seed, type TestApp } from './helpers/app.js';
import { startCluster } from './helpers/cluster.js';
import { afterFile } from './helpers/db.js';
import { countRows } from './helpers/pg.js';
import { ok, type InvigilatorClientSocket, type StudentSocket } from './helpers/sockets.js';

type Transport = 'websocket' | 'polling';
import { collectRoster, waitFor, withTimeout } from './helpers/nodes.js';

const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
const ROOT = path.join(import.meta.dirname, '..');
const TEMPLATE = path.join(ROOT, 'deploy', 'nginx.conf');

function installed(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The main nginx.conf around the rendered site: logs, temp files and the pid in `dir`, nothing of the system's. */
function mainConfig(dir: string, site: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  return `worker_processes 1;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
${temp}
  include ${dir}/${site};
}
`;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once `port` accepts a connection; rejects when nginx exits first or after `timeoutMs`. */
async function waitListening(port: number, child: ChildProcess, output: () => string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${output()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on ${port} within ${timeoutMs} ms:\n${output()}`);
}

/** Starts nginx (not as a daemon) with the rendered config on a free port; stopped after the file. */
async function startNginx(upstreams: string[]): Promise<{ url: string; port: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'exam-nginx-'));
  // Run as root, nginx's workers run as nobody: they must reach their temp directories in here.
  await chmod(dir, 0o755);
  afterFile(() => rm(dir, { recursive: true, force: true }));
  const template = readFileSync(TEMPLATE, 'utf8');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(path.join(dir, 'site.conf'), renderSite(template, upstreams, `127.0.0.1:${port}`));
    await writeFile(path.join(dir, 'nginx.conf'), mainConfig(dir, 'site.conf'));
    const args = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'), '-g', `daemon off; pid ${dir}/nginx.pid;`];
    const child = spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'nginx stopping').catch(() => {
        child.kill('SIGKILL');
        return exited;
      });
    };
    const errorLog = () => {
      try {
        return output + readFileSync(path.join(dir, 'error.log'), 'utf8');
      } catch {
        return output;
      }
    };
    try {
      await waitListening(port, child, errorLog);
      afterFile(stop);
      return { url: `http://127.0.0.1:${port}`, port };
    } catch (err) {
      await stop();
      // The free port was taken between our probe and nginx's bind: try another, a few times.
      if (attempt >= 3 || !/Address already in use/.test(errorLog())) throw err;
    }
  }
}

/** An HTTP agent whose connections leave from `localAddress` (any of 127.0.0.0/8 is this machine). */
const agentFrom = (localAddress: string) => new http.Agent({ localAddress, keepAlive: false });

function httpRequest(
  url: string,
  agent: http.Agent,
  opts: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const req = http.request(
        url,
        { agent, method: opts.method ?? 'GET', headers: payload ? { 'content-type': 'application/json' } : {} },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    }),
    5000,
    `${opts.method ?? 'GET'} ${url}`,
  );
}

const opened = new Set<Socket>();
afterFile(async () => {
  for (const s of opened) s.disconnect();
});

/** A Socket.IO client through nginx from `localAddress`, with the browser's Origin of the page nginx serves. */
function connectFrom(url: string, namespace: '/exam', token: string, localAddress: string, transports: Transport[]): Promise<StudentSocket>;
function connectFrom(
  url: string,
  namespace: '/invigilator',
  token: string,
  localAddress: string,
  transports: Transport[],
): Promise<InvigilatorClientSocket>;
function connectFrom(
  url: string,
  namespace: '/exam' | '/invigilator',
  token: string,
  localAddress: string,
  transports: Transport[],
): Promise<Socket> {
  const socket = connect(url + namespace, {
    auth: { token },
    transports,
    // socket.io-client types `agent` for browsers (string | boolean); in Node, engine.io-client hands it
    // to `ws` and to its XMLHttpRequest, both of which take an http.Agent.
    agent: agentFrom(localAddress) as unknown as string,
    reconnection: false,
    forceNew: true,
    extraHeaders: { origin: url },
  });
  opened.add(socket);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    }),
    10_000,
    `connecting ${namespace} from ${localAddress}`,
  );
}

const nginxInstalled = installed(NGINX);
if (!nginxInstalled) {
  console.warn(`deploy-nginx.test.ts: nginx is not installed at ${NGINX}; skipping the tests through it (apt-get install nginx-light, or set NGINX_BIN)`);
}

describe.skipIf(!nginxInstalled)(`nginx (deploy/nginx.conf) in front of two nodes${nginxInstalled ? '' : ` (skipped: no nginx at ${NGINX})`}`, () => {
  let nodes: TestApp[];
  let proxy: { url: string };
  let examId: number;
  /** Per node, the X-Forwarded-For of every request it received (its own HTTP server's view). */
  const forwardedFor: string[][] = [[], []];
  /** Per node, client addresses that nginx sends to it (found by the first test). */
  let placement: string[][] = [];

  beforeAll(async () => {
    nodes = await startCluster(2, { env: { TRUST_PROXY: '127.0.0.1', PROGRESS_INTERVAL_MS: '100' } });
    nodes.forEach((node, i) =>
      node.app.server.prependListener('request', (req: http.IncomingMessage) => {
        forwardedFor[i]!.push(String(req.headers['x-forwarded-for']));
      }),
    );
    examId = (await seed(nodes[0]!.app, 2)).examId;
    proxy = await startNginx(nodes.map((n) => new URL(n.url).host));
  });

  /** Which node served a request from `address` through nginx (read from the nodes), or -1. */
  async function nodeServing(address: string): Promise<number> {
    const before = forwardedFor.map((seen) => seen.filter((x) => x === address).length);
    const res = await httpRequest(`${proxy.url}/healthz`, agentFrom(address));
    expect(res.status).toBe(200);
    return forwardedFor.findIndex((seen, i) => seen.filter((x) => x === address).length > before[i]!);
  }

  it('keeps each client address on one node, and spreads addresses over both', async () => {
    const byNode: string[][] = [[], []];
    for (let host = 2; host <= 40 && !(byNode[0]!.length >= 2 && byNode[1]!.length >= 2); host++) {
      const address = `127.0.0.${host}`;
      const node = await nodeServing(address);
      expect(node, `a request from ${address} reached no node with X-Forwarded-For ${address}`).toBeGreaterThanOrEqual(0);
      byNode[node]!.push(address);
    }
    expect(byNode.every((a) => a.length >= 2), `addresses per node: ${JSON.stringify(byNode)}`).toBe(true);
    // Sticky: the same address goes to the same node every time.
    for (const [node, addresses] of byNode.entries()) {
      for (const address of addresses) for (let i = 0; i < 3; i++) expect(await nodeServing(address)).toBe(node);
    }
    placement = byNode;
  });

  it('runs a WebSocket student and a long-polling student on one node, watched live from the other', async () => {
    expect(placement.length, 'needs the placement found by the previous test').toBe(2);
    const [studentNode, invigilatorNode] = [0, 1];
    const [wsAddress, pollingAddress] = placement[studentNode]!;
    const invigilatorAddress = placement[invigilatorNode]![0]!;

    // Logins (a POST with a body) through nginx, too.
    const login = async (email: string, from: string) => {
      const body = { email, password: 'demo1234' };
      const res = await httpRequest(`${proxy.url}/api/auth/login`, agentFrom(from), { method: 'POST', body });
      expect(res.status, res.body).toBe(200);
      return (JSON.parse(res.body) as { token: string }).token;
    };
    const student = async (email: string, from: string, transport: Transport) =>
      connectFrom(proxy.url, '/exam', await login(email, from), from, [transport]);
    const invigilator = await connectFrom(
      proxy.url,
      '/invigilator',
      await login('invigilator@example.com', invigilatorAddress),
      invigilatorAddress,
      ['websocket'],
    );
    const wsStudent = await student('student1@example.com', wsAddress!, 'websocket');
    const pollingStudent = await student('student2@example.com', pollingAddress!, 'polling');
    expect(wsStudent.io.engine.transport.name).toBe('websocket');
    expect(pollingStudent.io.engine.transport.name).toBe('polling');

    // Where each landed, as the nodes see it: a client's socket id is its server-side socket's id.
    const onNode = (i: number, nsp: string, socket: Socket) => nodes[i]!.app.io.of(nsp).sockets.has(socket.id!);
    expect([onNode(studentNode, '/exam', wsStudent), onNode(invigilatorNode, '/exam', wsStudent)]).toEqual([true, false]);
    expect([onNode(studentNode, '/exam', pollingStudent), onNode(invigilatorNode, '/exam', pollingStudent)]).toEqual([true, false]);
    expect([onNode(invigilatorNode, '/invigilator', invigilator), onNode(studentNode, '/invigilator', invigilator)]).toEqual([true, false]);

    const watch = await ok(invigilator, 'exam:watch', { examId });
    expect(watch.roster).toHaveLength(2);
    const live = collectRoster(invigilator);

    const students = [wsStudent, pollingStudent];
    const starts = await Promise.all(students.map((s) => ok(s, 'attempt:start', { examId })));
    const ANSWERS = 5;
    for (const [i, socket] of students.entries()) {
      const { attempt, exam } = starts[i]!;
      expect(attempt.status).toBe('in_progress');
      const questions = exam.sections.flatMap((s) => s.questions).slice(0, ANSWERS);
      // One at a time: on the polling student every answer is a fresh POST and GET through nginx.
      for (const [seq, q] of questions.entries()) {
        const answer = { attemptId: attempt.id, questionId: q.id, optionId: q.options[0]!.id, seq: seq + 1 };
        const ack = await ok(socket, 'answer', answer);
        expect(ack.seq).toBe(seq + 1);
      }
    }

    // The invigilator on the other node sees both students' progress live, through Redis.
    for (const { attempt } of starts) {
      await waitFor(
        `roster:update with answered=${ANSWERS} for attempt ${attempt.id}`,
        () => live.some((r) => r.payload.attemptId === attempt.id && r.payload.answered === ANSWERS),
        10_000,
      );
    }

    // Acked means durable.
    const ids = starts.map((s) => s.attempt.id);
    expect(await countRows(nodes[0]!.databaseUrl, 'attempt_answers where attempt_id = any($1::int[])', [ids])).toBe(2 * ANSWERS);

    // The polling student never left its node: all its requests reached the one holding the session,
    // and each carried the client's own address for the node to trust.
    expect(pollingStudent.connected && pollingStudent.io.engine.transport.name === 'polling').toBe(true);
    expect(forwardedFor[studentNode]!.filter((x) => x === pollingAddress).length).toBeGreaterThan(2 * ANSWERS);
    expect(forwardedFor[invigilatorNode]!.filter((x) => x === pollingAddress)).toEqual([]);
  });
});

describe('the compose profile "cluster" (docker-compose.yml; Docker does not run in CI)', () => {
  const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  /** `name: { …its indented lines… }` of every top-level service, as text. */
  const services = new Map(
    [...compose.matchAll(/^ {2}([\w-]+):(.*)\n((?: {4,}.*\n|\s*\n)*)/gm)].map((m) => [m[1]!, `${m[2]}\n${m[3]}`]),
  );

  it('has a service for every upstream server of deploy/nginx.conf, on the port a node listens on', () => {
    const upstreams = [...readFileSync(TEMPLATE, 'utf8').matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)];
    expect(upstreams.length).toBeGreaterThanOrEqual(2);
    for (const [, host, port] of upstreams) {
      expect([...services.keys()], `service ${host}`).toContain(host);
      // No PORT in the compose environment: the node listens on the default.
      expect(Number(port)).toBe(loadConfig({}).port);
    }
    expect(compose).not.toMatch(/^\s+PORT:/m);
  });

  it('mounts that very file into nginx and keeps the nodes in the profile', () => {
    expect(services.get('nginx')).toContain('./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro');
    for (const name of ['migrate', 'node1', 'nginx']) expect(services.get(name), name).toContain('profiles: [cluster]');
    // node2 is node1 by YAML alias (same build, environment, health check).
    expect(services.get('node2')?.trim()).toBe('*node');
    // The test services stay outside the profile, so `docker compose up -d` still starts only them.
    for (const name of ['postgres', 'redis']) expect(services.get(name), name).not.toContain('profiles:');
  });
});
