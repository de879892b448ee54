import type { FastifyBaseLogger } from 'fastify';
import type { Namespace } from 'socket.io';

/**
 * Server-to-server messages: `publish` runs the topic's handler on this node at once and, when the
 * nodes share a Redis adapter, on every other node too (Socket.IO's `serverSideEmit`). Used for what
 * each node must do for its own sockets: deliver invigilator events, move timers, end attempts.
 */
export class ClusterBus {
  private readonly handlers = new Map<string, (payload: unknown) => void>();

  constructor(
    private readonly nsp: Namespace,
    private readonly clustered: boolean,
    private readonly log: FastifyBaseLogger,
  ) {
    if (clustered) {
      nsp.on('bus', (topic: string, payload: unknown) => this.run(topic, payload));
    }
  }

  on<T>(topic: string, handler: (payload: T) => void): void {
    this.handlers.set(topic, handler as (payload: unknown) => void);
  }

  publish<T>(topic: string, payload: T): void {
    this.run(topic, payload);
    if (this.clustered) {
      try {
        this.nsp.serverSideEmit('bus', topic, payload);
      } catch (err) {
        this.log.warn({ err, topic }, 'cluster bus: could not reach the other nodes; this node only');
      }
    }
  }

  private run(topic: string, payload: unknown): void {
    const handler = this.handlers.get(topic);
    if (!handler) return;
    try {
      handler(payload);
    } catch (err) {
      this.log.error({ err, topic }, 'cluster bus handler failed');
    }
  }
}
