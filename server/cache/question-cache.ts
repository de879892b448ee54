import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { StudentExamView } from '../protocol.js';

/** The server-side answer key of one exam version: never sent to a student before the attempt ends. */
export interface AnswerKey {
  /** questionId -> the correct option, the question's points, and every option id it has. */
  questions: Map<number, { correctOptionId: number; points: number; optionIds: Set<number> }>;
  maxScore: number;
}

/** One exam version as the cache holds it. */
export interface CachedExam {
  view: StudentExamView;
  key: AnswerKey;
}

/** The loader reads one exam version's tree from the database (one statement; see exam/authoring.ts). */
export type ExamLoader = (examId: number) => Promise<{ version: number; view: StudentExamView; key: AnswerKey } | null>;

export interface QuestionCacheOptions {
  /** Exam versions kept parsed in process. @default 64 */
  localEntries: number;
  /** Redis TTL of a cached version, in seconds. @default 3600 */
  ttlSeconds: number;
  /** Prefix of every Redis key. @default 'exam:' */
  keyPrefix: string;
}

interface WireKey {
  q: [questionId: number, correctOptionId: number, points: number, optionIds: number[]][];
  max: number;
}

const encodeKey = (key: AnswerKey): WireKey => ({
  q: [...key.questions].map(([id, q]) => [id, q.correctOptionId, q.points, [...q.optionIds]]),
  max: key.maxScore,
});
const decodeKey = (w: WireKey): AnswerKey => ({
  questions: new Map(w.q.map(([id, correct, points, options]) => [id, { correctOptionId: correct, points, optionIds: new Set(options) }])),
  maxScore: w.max,
});

/**
 * The question set of an exam version, read from the database once and then served from memory:
 * an in-process LRU in front of Redis (`{prefix}exam:{id}:v{version}:questions` for the student view,
 * `…:key` for the answer key, both with a TTL), with single-flight so a cold start of thousands of
 * students costs one Redis round trip and at most one database load per node. Without Redis, the
 * LRU alone. Keys carry the exam version, so an edit (which bumps it) retires old entries.
 */
export class QuestionCache {
  private readonly local = new Map<string, CachedExam>();
  private readonly inflight = new Map<string, Promise<CachedExam | null>>();
  private readonly opts: QuestionCacheOptions;
  /** Hit/miss counters, exported by `/metrics`. */
  readonly stats = { localHits: 0, redisHits: 0, dbLoads: 0 };

  constructor(
    private readonly redis: Redis | null,
    private readonly load: ExamLoader,
    private readonly log: FastifyBaseLogger,
    opts: Partial<QuestionCacheOptions> = {},
  ) {
    this.opts = { localEntries: 64, ttlSeconds: 3600, keyPrefix: 'exam:', ...opts };
  }

  redisKey(examId: number, version: number, part: 'questions' | 'key'): string {
    return `${this.opts.keyPrefix}exam:${examId}:v${version}:${part}`;
  }

  /** The exam at `version` (or at its current version, when it moved on since), or null when it does not exist. */
  async get(examId: number, version: number): Promise<CachedExam | null> {
    const id = `${examId}:${version}`;
    const hit = this.local.get(id);
    if (hit) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.local.delete(id);
      this.local.set(id, hit);
      this.stats.localHits++;
      return hit;
    }
    let flight = this.inflight.get(id);
    if (!flight) {
      flight = this.fetch(examId, version).finally(() => this.inflight.delete(id));
      this.inflight.set(id, flight);
    }
    return flight;
  }

  /** Drops an exam's local entries (another node edited it; see the realtime layer's pub/sub). */
  evict(examId: number): void {
    for (const id of this.local.keys()) if (id.startsWith(`${examId}:`)) this.local.delete(id);
  }

  private remember(id: string, exam: CachedExam): void {
    this.local.set(id, exam);
    while (this.local.size > this.opts.localEntries) {
      const oldest = this.local.keys().next().value;
      if (oldest === undefined) break;
      this.local.delete(oldest);
    }
  }

  private async fetch(examId: number, version: number): Promise<CachedExam | null> {
    const id = `${examId}:${version}`;
    if (this.redis) {
      try {
        const [view, key] = await this.redis.mgetBuffer(
          this.redisKey(examId, version, 'questions'),
          this.redisKey(examId, version, 'key'),
        );
        if (view && key) {
          const exam = { view: JSON.parse(view.toString()) as StudentExamView, key: decodeKey(JSON.parse(key.toString()) as WireKey) };
          this.stats.redisHits++;
          this.remember(id, exam);
          return exam;
        }
      } catch (err) {
        // Redis is a cache, never a dependency: fall through to the database.
        this.log.warn({ err, examId }, 'question cache: redis read failed, loading from the database');
      }
    }
    const loaded = await this.load(examId);
    this.stats.dbLoads++;
    if (!loaded) return null;
    // Edited since the caller read its version: serve (and cache) the current one.
    version = loaded.version;
    const exam = { view: loaded.view, key: loaded.key };
    this.remember(`${examId}:${version}`, exam);
    if (this.redis) {
      const ttl = this.opts.ttlSeconds;
      this.redis
        .multi()
        .set(this.redisKey(examId, version, 'questions'), JSON.stringify(exam.view), 'EX', ttl)
        .set(this.redisKey(examId, version, 'key'), JSON.stringify(encodeKey(exam.key)), 'EX', ttl)
        .exec()
        .catch((err: unknown) => this.log.warn({ err, examId }, 'question cache: redis write failed'));
    }
    return exam;
  }
}
