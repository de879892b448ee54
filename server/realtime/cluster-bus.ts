import type { FastifyBaseLogger } from 'fastify';
import type { Namespace } from 'socket.io';
import { Type, type Static } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { AttemptEndedEvent, Id, InvigilatorDelivery } from '../protocol.js';

/**
 * What nodes tell each other, by topic: each payload's schema. A message from another node arrives
 * through Redis and is checked against its topic's schema before any handler sees it.
 */
export const BUS_TOPICS = {
  /** Deliver to the exam's invigilators on this node (sockets and plain-WebSocket feeds). */
  invigilators: InvigilatorDelivery,
  /** Move timers and the deadline each socket remembers. */
  deadlines: Type.Object({ changes: Type.Array(Type.Object({ attemptId: Id, deadlineAt: Type.String() })) }),
  /** Tell the student's sockets, forget the attempt's clock. */
  ended: AttemptEndedEvent,
  /** An exam was edited: drop in-process question caches. */
  'exam-changed': Type.Object({ examId: Id }),
  /** The assignment changed: consoles and feeds of removed invigilators stop. */
  'invigilators-changed': Type.Object({ examId: Id, invigilatorIds: Type.Array(Id) }),
} as const;

export type BusTopic = keyof typeof BUS_TOPICS;
export type BusPayload<K extends BusTopic> = Static<(typeof BUS_TOPICS)[K]>;

/** The server-side event the bus rides on (Socket.IO's `serverSideEmit` on the main namespace). */
export const BUS_EVENT = 'bus';
export interface BusServerSideEvents {
  [BUS_EVENT]: (topic: string, payload: unknown) => void;
}

type Handler = (payload: unknown) => void;

/**
 * Server-to-server messages: `publish` runs the topic's handler on this node at once and, when the
 * nodes share a Redis adapter, on every other node too (Socket.IO's `serverSideEmit`). Used for what
 * each node must do for its own sockets: deliver invigilator events, move timers, end attempts.
 */
export class ClusterBus {
  private readonly handlers = new Map<BusTopic, Handler>();
  private readonly taps = new Map<BusTopic, Handler[]>();
  private readonly validators = new Map<BusTopic, Validator>();

  constructor(
    private readonly nsp: Namespace<Record<string, never>, Record<string, never>, BusServerSideEvents>,
    private readonly clustered: boolean,
    private readonly log: FastifyBaseLogger,
  ) {
    for (const topic of Object.keys(BUS_TOPICS) as BusTopic[]) this.validators.set(topic, Compile(BUS_TOPICS[topic]));
    if (clustered) nsp.on(BUS_EVENT, (topic, payload) => this.receive(topic, payload));
  }

  on<K extends BusTopic>(topic: K, handler: (payload: BusPayload<K>) => void): void {
    // Stored by topic; `receive` checks each payload against the same topic's schema before calling it.
    this.handlers.set(topic, handler as Handler);
  }

  /**
   * Also calls `fn` with every message of the topic this node acts on (its own and, once checked, other
   * nodes'), after the topic's handler: for observers, e.g. the resync noting which attempts' ends
   * reached this node's sockets, so that it tells only those whose message was lost.
   */
  tap<K extends BusTopic>(topic: K, fn: (payload: BusPayload<K>) => void): void {
    const list = this.taps.get(topic) ?? [];
    list.push(fn as Handler);
    this.taps.set(topic, list);
  }

  publish<K extends BusTopic>(topic: K, payload: BusPayload<K>): void {
    this.run(topic, payload);
    if (this.clustered) {
      try {
        this.nsp.serverSideEmit(BUS_EVENT, topic, payload);
      } catch (err) {
        this.log.warn({ err, topic }, 'cluster bus: could not reach the other nodes; this node only');
      }
    }
  }

  /** A message from another node: an unknown topic or a payload that fails its schema is dropped. */
  private receive(topic: string, payload: unknown): void {
    const validator = this.validators.get(topic as BusTopic);
    if (!validator) {
      this.log.warn({ topic }, 'cluster bus: unknown topic from another node, dropped');
      return;
    }
    if (!validator.Check(payload)) {
      const [first] = validator.Errors(payload);
      this.log.warn({ topic, path: first?.instancePath, error: first?.message }, 'cluster bus: malformed message from another node, dropped');
      return;
    }
    this.run(topic as BusTopic, payload);
  }

  private run(topic: BusTopic, payload: unknown): void {
    const handler = this.handlers.get(topic);
    for (const fn of [...(handler ? [handler] : []), ...(this.taps.get(topic) ?? [])]) {
      try {
        fn(payload);
      } catch (err) {
        this.log.error({ err, topic }, 'cluster bus handler failed');
      }
    }
  }
}
