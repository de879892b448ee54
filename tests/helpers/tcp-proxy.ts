import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterFile } from './db.js';

/**
 * A TCP relay on 127.0.0.1 in front of a real service (PostgreSQL, Redis), to take that service away
 * from one app and give it back: `down()` cuts every relayed connection and refuses new ones (the
 * app sees ECONNRESET, then ECONNREFUSED), `up()` listens again on the same port. `cutNextWrite()`
 * cuts, instead of relaying, the connection whose client sends the next bytes (one statement caught
 * mid-flight, on a connection that was already open). `stall()` keeps every connection open but
 * relays nothing (a service that hangs: paused, or cut off without a reset), until `resume()` delivers
 * what was held back. Closed after the file.
 */
export interface TcpProxy {
  port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  cutNextWrite(): void;
  stall(): void;
  resume(): void;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  let cutNext = false;
  let stalled = false;
  /** Chunks held back while stalled, in order, with where each goes. */
  let held: { to: Socket; chunk: Buffer }[] = [];
  const relay = (from: Socket, to: Socket, chunk: Buffer) => {
    if (stalled) return void held.push({ to, chunk });
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  };
  const listen = async () => {
    const s = createServer((client) => {
      const upstream = connect(targetPort, targetHost);
      open.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        open.delete(client);
        open.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.on('data', (chunk: Buffer) => {
        if (cutNext) {
          cutNext = false;
          drop();
        } else relay(client, upstream, chunk);
      });
      upstream.on('data', (chunk: Buffer) => relay(upstream, client, chunk));
    });
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const proxy: TcpProxy = {
    get port() {
      return port;
    },
    async down() {
      const s = server;
      server = null;
      for (const socket of open) socket.destroy();
      open.clear();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async up() {
      if (!server) await listen();
    },
    cutNextWrite() {
      cutNext = true;
    },
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      const queue = held;
      held = [];
      for (const { to, chunk } of queue) if (!to.destroyed) to.write(chunk);
    },
  };
  await listen();
  afterFile(() => proxy.down());
  return proxy;
}
