import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

export interface PresenceChange {
  examId: number;
  studentId: number;
  attemptId: number | null;
  connected: boolean;
}

export interface PresenceOptions {
  /** How often this node says it is alive. @default 2000 */
  heartbeatMs: number;
  /** A node silent this long is dead: its students are shown disconnected. @default 6000 */
  deadAfterMs: number;
}

/**
 * Who is connected, across nodes. Each node counts its own sockets per (exam, student) and, with
 * Redis, records them in `{prefix}presence:exam:{examId}` (field `studentId:nodeId`, value attemptId),
 * listed per node in `{prefix}presence:node:{nodeId}`, and beats a heartbeat into
 * `{prefix}presence:nodes` (sorted by time). A node that stops beating (crashed, cut off) is found by
 * any other within `deadAfterMs` + one beat; exactly one of them (ZREM decides) removes its entries
 * and reports those students disconnected. Without Redis: this node's counts only.
 *
 * The alternative considered: the adapter's `fetchSockets()` answers "who is here" without any of
 * this, but says nothing when a node dies (someone would have to poll it for every watched exam), and
 * each call is a request to every node carrying every socket's data.
 */
export class Presence {
  readonly nodeId = randomBytes(6).toString('hex');
  private readonly local = new Map<string, { count: number; attemptId: number | null }>();
  private timer: NodeJS.Timeout | null = null;
  private readonly opts: PresenceOptions;
  private readonly k: { nodes: string; node: (id: string) => string; exam: (id: number) => string };

  constructor(
    private readonly redis: Redis | null,
    keyPrefix: string,
    private readonly onChange: (changes: PresenceChange[]) => void,
    private readonly log: FastifyBaseLogger,
    opts: Partial<PresenceOptions> = {},
  ) {
    this.opts = { heartbeatMs: 2000, deadAfterMs: 6000, ...opts };
    this.k = {
      nodes: `${keyPrefix}presence:nodes`,
      node: (id) => `${keyPrefix}presence:node:${id}`,
      exam: (id) => `${keyPrefix}presence:exam:${id}`,
    };
  }

  start(): void {
    if (!this.redis || this.timer) return;
    const beat = () => {
      this.heartbeat()
        .then(() => this.reapDeadNodes())
        .catch((err: unknown) => this.log.warn({ err }, 'presence heartbeat failed'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(beat, this.opts.heartbeatMs);
        });
    };
    this.timer = setTimeout(beat, 0);
  }

  /** A socket of `studentId` is now in `examId` on this node. */
  async join(examId: number, studentId: number, attemptId: number | null): Promise<void> {
    const key = `${examId}:${studentId}`;
    const entry = this.local.get(key);
    if (entry) {
      entry.count++;
      entry.attemptId = attemptId ?? entry.attemptId;
      return;
    }
    this.local.set(key, { count: 1, attemptId });
    if (this.redis) {
      await this.redis
        .multi()
        .zadd(this.k.nodes, Date.now(), this.nodeId)
        .hset(this.k.exam(examId), `${studentId}:${this.nodeId}`, String(attemptId ?? ''))
        .sadd(this.k.node(this.nodeId), key)
        .exec()
        .catch((err: unknown) => this.log.warn({ err }, 'presence: could not record a connection'));
    }
    this.onChange([{ examId, studentId, attemptId, connected: true }]);
  }

  /** A socket of `studentId` in `examId` on this node went away. */
  async leave(examId: number, studentId: number): Promise<void> {
    const key = `${examId}:${studentId}`;
    const entry = this.local.get(key);
    if (!entry) return;
    if (--entry.count > 0) return;
    this.local.delete(key);
    let stillElsewhere = false;
    if (this.redis) {
      try {
        await this.redis
          .multi()
          .hdel(this.k.exam(examId), `${studentId}:${this.nodeId}`)
          .srem(this.k.node(this.nodeId), key)
          .exec();
        stillElsewhere = (await this.online(examId)).has(studentId);
      } catch (err) {
        this.log.warn({ err }, 'presence: could not record a disconnection');
      }
    }
    if (!stillElsewhere) this.onChange([{ examId, studentId, attemptId: entry.attemptId, connected: false }]);
  }

  /** Students of the exam connected on this node. */
  private onlineHere(examId: number): Set<number> {
    const out = new Set<number>();
    for (const key of this.local.keys()) {
      const [e, s] = key.split(':').map(Number);
      if (e === examId) out.add(s!);
    }
    return out;
  }

  /** Students of the exam connected on any live node (this node's only, while Redis is unreachable). */
  async online(examId: number): Promise<Set<number>> {
    if (!this.redis) return this.onlineHere(examId);
    let fields: string[];
    let alive: string[];
    try {
      [fields, alive] = await Promise.all([
        this.redis.hkeys(this.k.exam(examId)),
        this.redis.zrangebyscore(this.k.nodes, Date.now() - this.opts.deadAfterMs, '+inf'),
      ]);
    } catch (err) {
      this.log.warn({ err, examId }, 'presence: Redis unreachable, showing this node\'s connections only');
      return this.onlineHere(examId);
    }
    const live = new Set(alive);
    live.add(this.nodeId);
    const out = new Set<number>();
    for (const field of fields) {
      const [student, node] = field.split(':');
      if (node && live.has(node)) out.add(Number(student));
    }
    return out;
  }

  /** Graceful stop: this node's entries go now (its sockets were disconnected before). */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.redis) return;
    await this.redis
      .multi()
      .zrem(this.k.nodes, this.nodeId)
      .del(this.k.node(this.nodeId))
      .exec()
      .catch(() => undefined);
  }

  private async heartbeat(): Promise<void> {
    await this.redis!.zadd(this.k.nodes, Date.now(), this.nodeId);
  }

  private async reapDeadNodes(): Promise<void> {
    const redis = this.redis!;
    const dead = await redis.zrangebyscore(this.k.nodes, '-inf', Date.now() - this.opts.deadAfterMs);
    for (const node of dead) {
      if (node === this.nodeId) continue;
      // Whoever removes it first cleans up after it; the others see 0 and move on.
      if ((await redis.zrem(this.k.nodes, node)) !== 1) continue;
      const members = await redis.smembers(this.k.node(node));
      const byExam = new Map<number, { studentId: number; attemptId: number | null }[]>();
      for (const member of members) {
        const [examId, studentId] = member.split(':').map(Number) as [number, number];
        const list = byExam.get(examId) ?? [];
        list.push({ studentId, attemptId: null });
        byExam.set(examId, list);
      }
      const changes: PresenceChange[] = [];
      for (const [examId, students] of byExam) {
        const fields = students.map((s) => `${s.studentId}:${node}`);
        const values = await redis.hmget(this.k.exam(examId), ...fields);
        await redis.hdel(this.k.exam(examId), ...fields);
        const online = await this.online(examId);
        students.forEach((s, i) => {
          if (online.has(s.studentId)) return;
          const attempt = values[i] ? Number(values[i]) : null;
          changes.push({ examId, studentId: s.studentId, attemptId: attempt, connected: false });
        });
      }
      await redis.del(this.k.node(node));
      this.log.warn({ node, students: changes.length }, 'presence: a node stopped answering; its students are shown disconnected');
      if (changes.length) this.onChange(changes);
    }
  }
}
