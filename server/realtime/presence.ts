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
  /**
   * The time heartbeats are scored with and compared against, the same on every node: the database's
   * (a node's own clock 10 minutes ahead took every other node for dead, and was taken for alive for
   * 10 minutes after it died). @default Date.now
   */
  now: () => number;
}

/**
 * Who is connected, across nodes. Each node counts its own sockets per (exam, student) and, with
 * Redis, records them in `{prefix}presence:exam:{examId}` (field `studentId:nodeId`, value attemptId),
 * listed per node in `{prefix}presence:node:{nodeId}`, and beats a heartbeat into
 * `{prefix}presence:nodes` (sorted by time). A node that stops beating (crashed, cut off) is found by
 * any other within `deadAfterMs` + one beat; exactly one of them (ZREM decides) removes its entries
 * and reports those students disconnected. Without Redis: this node's counts only.
 *
 * Redis forgets (restarted empty) and misses (a write while it is away): whenever this node's
 * connection comes back, or a heartbeat finds the node unknown to Redis, or a write of ours failed
 * since the last beat, the node rewrites its own entries from its counts (removing those whose
 * student left meanwhile) and reports every one of them, so consoles told otherwise are corrected.
 * A node just back from an outage does not declare others dead for `deadAfterMs`: their silence was
 * its own.
 *
 * The alternative considered: the adapter's `fetchSockets()` answers "who is here" without any of
 * this, but says nothing when a node dies (someone would have to poll it for every watched exam), and
 * each call is a request to every node carrying every socket's data.
 */
export class Presence {
  readonly nodeId = randomBytes(6).toString('hex');
  private readonly local = new Map<string, { count: number; attemptId: number | null }>();
  private timer: NodeJS.Timeout | null = null;
  /** Redis may not hold what this node's counts say (a write failed, the connection dropped): rewrite at the next beat. */
  private stale = false;
  /**
   * Until then, what Redis says of other nodes is not trusted: set for `deadAfterMs` whenever this
   * node's Redis comes back (the others may not have rewritten their entries, nor beaten, yet).
   */
  private unsettledUntil = 0;
  /** A beat (heartbeat, rewrite, reaping) is under way. */
  private beating = false;
  /** A heartbeat failure is logged once per outage, not every beat. */
  private beatFailing = false;
  private readonly onClose = () => {
    this.stale = true;
  };
  private readonly onReady = () => {
    if (!this.stale) return;
    this.unsettledUntil = this.opts.now() + this.opts.deadAfterMs;
    // Back: rewrite at once rather than at the next beat (Redis may have restarted empty).
    if (this.timer) this.beatNow();
  };
  private readonly opts: PresenceOptions;
  private readonly k: { nodes: string; node: (id: string) => string; exam: (id: number) => string };

  constructor(
    private readonly redis: Redis | null,
    keyPrefix: string,
    private readonly onChange: (changes: PresenceChange[]) => void,
    private readonly log: FastifyBaseLogger,
    opts: Partial<PresenceOptions> = {},
  ) {
    this.opts = { heartbeatMs: 2000, deadAfterMs: 6000, now: Date.now, ...opts };
    this.k = {
      nodes: `${keyPrefix}presence:nodes`,
      node: (id) => `${keyPrefix}presence:node:${id}`,
      exam: (id) => `${keyPrefix}presence:exam:${id}`,
    };
  }

  start(): void {
    if (!this.redis || this.timer) return;
    this.redis.on('close', this.onClose);
    this.redis.on('ready', this.onReady);
    this.timer = setTimeout(() => this.beat(), 0);
  }

  private beat(): void {
    this.beating = true;
    this.heartbeat()
      .then(() => {
        if (this.beatFailing) this.log.info('presence: Redis reachable again');
        this.beatFailing = false;
        return this.reapDeadNodes();
      })
      .catch((err: unknown) => {
        this.stale = true;
        if (!this.beatFailing) this.log.warn({ err }, 'presence heartbeat failed (logged once until it works again)');
        this.beatFailing = true;
      })
      .finally(() => {
        this.beating = false;
        if (this.timer) this.timer = setTimeout(() => this.beat(), this.opts.heartbeatMs);
      });
  }

  /** The next beat now (unless one is running: it will see `stale`). */
  private beatNow(): void {
    if (this.beating || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.beat(), 0);
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
        .zadd(this.k.nodes, this.opts.now(), this.nodeId)
        .hset(this.k.exam(examId), `${studentId}:${this.nodeId}`, String(attemptId ?? ''))
        .sadd(this.k.node(this.nodeId), key)
        .exec()
        .catch((err: unknown) => {
          this.stale = true;
          this.log.debug({ err }, 'presence: could not record a connection (rewritten once Redis answers)');
        });
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
        const results = await this.redis
          .multi()
          .hdel(this.k.exam(examId), `${studentId}:${this.nodeId}`)
          .srem(this.k.node(this.nodeId), key)
          .zrangebyscore(this.k.nodes, this.opts.now() - this.opts.deadAfterMs, '+inf')
          .exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed) throw failed?.[0] ?? new Error('presence: transaction discarded');
        stillElsewhere = (await this.onOtherNodes(examId, [studentId], results[2]![1] as string[])).has(studentId);
      } catch (err) {
        this.stale = true;
        this.log.debug({ err }, 'presence: could not record a disconnection (rewritten once Redis answers)');
      }
    }
    if (!stillElsewhere) this.onChange([{ examId, studentId, attemptId: entry.attemptId, connected: false }]);
  }

  /**
   * Of `studentIds`, those the exam's hash shows connected on another live node: one HMGET of
   * student × node fields, so a leave costs the same at 10 students as at 10,000 (reading the whole
   * exam's hash per leave made a mass disconnect quadratic). `alive`: the live nodes, when known.
   */
  private async onOtherNodes(examId: number, studentIds: readonly number[], alive?: string[]): Promise<Set<number>> {
    const redis = this.redis!;
    const live = alive ?? (await redis.zrangebyscore(this.k.nodes, this.opts.now() - this.opts.deadAfterMs, '+inf'));
    const others = live.filter((node) => node !== this.nodeId);
    const out = new Set<number>();
    if (others.length === 0 || studentIds.length === 0) return out;
    const values = await redis.hmget(this.k.exam(examId), ...studentIds.flatMap((s) => others.map((node) => `${s}:${node}`)));
    values.forEach((v, i) => {
      if (v !== null) out.add(studentIds[Math.floor(i / others.length)]!);
    });
    return out;
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
    const byExam = await this.onlineByExam([examId]);
    return byExam?.get(examId) ?? this.onlineHere(examId);
  }

  /**
   * Students of each exam connected on any live node, in one Redis round trip; null while Redis is
   * unreachable (who is connected elsewhere is then unknown). Without Redis: this node's, which is all.
   */
  async onlineByExam(examIds: readonly number[]): Promise<Map<number, Set<number>> | null> {
    if (!this.redis) return new Map(examIds.map((id) => [id, this.onlineHere(id)]));
    if (examIds.length === 0) return new Map();
    let fields: string[][];
    let alive: string[];
    try {
      const pipeline = this.redis.pipeline();
      pipeline.zrangebyscore(this.k.nodes, this.opts.now() - this.opts.deadAfterMs, '+inf');
      for (const examId of examIds) pipeline.hkeys(this.k.exam(examId));
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([err]) => err);
      if (failed || results.length !== examIds.length + 1) throw failed?.[0] ?? new Error('presence: incomplete reply');
      alive = results[0]![1] as string[];
      fields = results.slice(1).map(([, v]) => v as string[]);
    } catch (err) {
      this.log.warn({ err, examIds }, 'presence: Redis unreachable, who is connected on other nodes is unknown');
      return null;
    }
    const live = new Set(alive);
    live.add(this.nodeId);
    const out = new Map<number, Set<number>>();
    examIds.forEach((examId, i) => {
      const set = new Set<number>();
      for (const field of fields[i]!) {
        const [student, node] = field.split(':');
        if (node && live.has(node)) set.add(Number(student));
      }
      out.set(examId, set);
    });
    return out;
  }

  /** Graceful stop: this node's entries go now (its sockets were disconnected before). */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.redis) return;
    this.redis.off('close', this.onClose);
    this.redis.off('ready', this.onReady);
    await this.redis
      .multi()
      .zrem(this.k.nodes, this.nodeId)
      .del(this.k.node(this.nodeId))
      .exec()
      .catch(() => undefined);
  }

  private async heartbeat(): Promise<void> {
    const added = await this.redis!.zadd(this.k.nodes, this.opts.now(), this.nodeId);
    // Unknown to Redis (restarted empty, or another node took this one for dead and removed its entries).
    if (added === 1) this.stale = true;
    if (this.stale) await this.rewrite();
  }

  /**
   * Makes Redis hold exactly this node's counts: entries of students who left while Redis was away
   * go, every present one is written again; then every one of them is reported (present, and gone
   * unless connected elsewhere), for the consoles that were told otherwise or nothing.
   */
  private async rewrite(): Promise<void> {
    const redis = this.redis!;
    const nodeKey = this.k.node(this.nodeId);
    this.stale = false;
    // Others had no Redis either: their silence (and their missing entries) says nothing yet.
    this.unsettledUntil = this.opts.now() + this.opts.deadAfterMs;
    const recorded = await redis.smembers(nodeKey);
    // Built and sent in one tick from the counts as they are now: a join or leave after this is sent after it.
    const multi = redis.multi();
    const gone: PresenceChange[] = [];
    for (const key of recorded) {
      if (this.local.has(key)) continue;
      const [examId, studentId] = key.split(':').map(Number) as [number, number];
      multi.hdel(this.k.exam(examId), `${studentId}:${this.nodeId}`).srem(nodeKey, key);
      gone.push({ examId, studentId, attemptId: null, connected: false });
    }
    const present: PresenceChange[] = [];
    for (const [key, { attemptId }] of this.local) {
      const [examId, studentId] = key.split(':').map(Number) as [number, number];
      multi.hset(this.k.exam(examId), `${studentId}:${this.nodeId}`, String(attemptId ?? '')).sadd(nodeKey, key);
      present.push({ examId, studentId, attemptId, connected: true });
    }
    multi.zadd(this.k.nodes, this.opts.now(), this.nodeId);
    try {
      await multi.exec();
    } catch (err) {
      this.stale = true;
      throw err;
    }
    let leftForGood = gone;
    if (gone.length) {
      const byExam = new Map<number, number[]>();
      for (const g of gone) {
        const students = byExam.get(g.examId);
        if (students) students.push(g.studentId);
        else byExam.set(g.examId, [g.studentId]);
      }
      const elsewhere = new Map<number, Set<number>>();
      for (const [examId, students] of byExam) elsewhere.set(examId, await this.onOtherNodes(examId, students));
      leftForGood = gone.filter((g) => !elsewhere.get(g.examId)!.has(g.studentId));
    }
    if (present.length || leftForGood.length) {
      this.log.info({ present: present.length, gone: gone.length }, 'presence: this node\'s entries rewritten in Redis');
      this.onChange([...present, ...leftForGood]);
    }
  }

  /**
   * False for `deadAfterMs` after this node's Redis came back: other nodes may not have rewritten their
   * entries yet, so a student missing from Redis may still be connected (a resync then leaves
   * `connected` out; each node's rewrite reports its own students).
   */
  settled(): boolean {
    return this.opts.now() >= this.unsettledUntil;
  }

  private async reapDeadNodes(): Promise<void> {
    if (!this.settled()) return;
    const redis = this.redis!;
    const dead = await redis.zrangebyscore(this.k.nodes, '-inf', this.opts.now() - this.opts.deadAfterMs);
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
        const elsewhere = await this.onOtherNodes(examId, students.map((s) => s.studentId));
        students.forEach((s, i) => {
          if (elsewhere.has(s.studentId) || this.local.has(`${examId}:${s.studentId}`)) return;
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
