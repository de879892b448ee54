import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import type { StudentExamView } from '../protocol.js';

/** What a node logs through (pino's `(obj, msg)` form). */
interface CacheLog {
  warn(obj: object, msg?: string): void;
}

/** The student view as stored in Redis: exactly what a student is sent, never a key. */
const StudentViewWire = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  sections: Type.Array(
    Type.Object({
      id: Type.Integer(),
      title: Type.String(),
      questions: Type.Array(
        Type.Object({
          id: Type.Integer(),
          text: Type.String(),
          points: Type.Number(),
          options: Type.Array(Type.Object({ id: Type.Integer(), text: Type.String() })),
        }),
      ),
    }),
  ),
});

/** The answer key as stored in Redis: `[questionId, correctOptionId, points, optionIds]` per question. */
const AnswerKeyWire = Type.Object({
  q: Type.Array(Type.Tuple([Type.Integer(), Type.Integer(), Type.Number(), Type.Array(Type.Integer())])),
  max: Type.Number(),
});
export type AnswerKeyWire = Static<typeof AnswerKeyWire>;

const isStudentView = Compile(StudentViewWire);
const isAnswerKey = Compile(AnswerKeyWire);
// The schema and the protocol's interface describe the same shape: this fails to compile if they part.
const _sameShape: StudentExamView = {} as Static<typeof StudentViewWire>;
void _sameShape;

/** How the owner of the cached value turns it into the two Redis parts and back. */
export interface QuestionSetCodec<T> {
  toWire(value: T): { view: StudentExamView; key: AnswerKeyWire };
  fromWire(view: StudentExamView, key: AnswerKeyWire): T;
}

/** Reads one exam's current version from the database; null when it does not exist. */
export type ExamLoader<T> = (examId: number) => Promise<{ version: number; value: T } | null>;

export interface QuestionCacheOptions {
  /** Exam versions kept parsed in process. @default 64 */
  localEntries: number;
  /** Redis TTL of a cached version, in seconds. @default 3600 */
  ttlSeconds: number;
  /** Prefix of every Redis key. @default 'exam:' */
  keyPrefix: string;
}

/**
 * The question set of an exam version, read from the database once and then served from memory:
 * an in-process LRU (`lru-cache`, whose `fetchMethod` is the single-flight: concurrent misses of one
 * version share one fetch) in front of Redis (`{prefix}exam:{id}:v{version}:questions` for the
 * student view, `…:key` for the answer key, both with a TTL), so a cold start of thousands of students
 * costs one Redis round trip and at most one database load per node. What comes from Redis is
 * checked against its schema before use; a value that does not fit (corrupt, or written by an older
 * release) is reloaded from the database and overwritten. Without Redis, the LRU alone. Keys carry the
 * exam version, so an edit (which bumps it) retires old entries.
 */
export class QuestionCache<T extends object> {
  private readonly local: LRUCache<string, T, { examId: number; version: number }>;
  private readonly opts: QuestionCacheOptions;
  /** Hit/miss counters, exported by `/metrics`. */
  readonly stats = { localHits: 0, redisHits: 0, dbLoads: 0 };

  constructor(
    private readonly redis: Redis | null,
    private readonly load: ExamLoader<T>,
    private readonly codec: QuestionSetCodec<T>,
    private readonly log: CacheLog,
    opts: Partial<QuestionCacheOptions> = {},
  ) {
    this.opts = { localEntries: 64, ttlSeconds: 3600, keyPrefix: 'exam:', ...opts };
    this.local = new LRUCache({
      max: this.opts.localEntries,
      fetchMethod: async (_id, _stale, { context }) => (await this.fetch(context.examId, context.version)) ?? undefined,
    });
  }

  redisKey(examId: number, version: number, part: 'questions' | 'key'): string {
    return `${this.opts.keyPrefix}exam:${examId}:v${version}:${part}`;
  }

  /** The exam at `version` (or at its current version, when it moved on since), or null when it does not exist. */
  async get(examId: number, version: number): Promise<T | null> {
    const id = `${examId}:${version}`;
    const hit = this.local.get(id);
    if (hit) {
      this.stats.localHits++;
      return hit;
    }
    return (await this.local.fetch(id, { context: { examId, version } })) ?? null;
  }

  /** Drops an exam's local entries (another node edited it; see the realtime layer's pub/sub). */
  evict(examId: number): void {
    for (const id of [...this.local.keys()]) if (id.startsWith(`${examId}:`)) this.local.delete(id);
  }

  private async fetch(examId: number, version: number): Promise<T | null> {
    if (this.redis) {
      const fromRedis = await this.readRedis(examId, version);
      if (fromRedis) {
        this.stats.redisHits++;
        return fromRedis;
      }
    }
    const loaded = await this.load(examId);
    this.stats.dbLoads++;
    if (!loaded) return null;
    // Edited since the caller read its version: serve (and cache) the current one.
    if (loaded.version !== version) this.local.set(`${examId}:${loaded.version}`, loaded.value);
    this.writeRedis(examId, loaded.version, loaded.value);
    return loaded.value;
  }

  /** The version from Redis when both parts are there and fit their schemas; null otherwise. */
  private async readRedis(examId: number, version: number): Promise<T | null> {
    let parts: (Buffer | null)[];
    try {
      parts = await this.redis!.mgetBuffer(this.redisKey(examId, version, 'questions'), this.redisKey(examId, version, 'key'));
    } catch (err) {
      // Redis is a cache, never a dependency: fall through to the database.
      this.log.warn({ err, examId }, 'question cache: redis read failed, loading from the database');
      return null;
    }
    const [viewText, keyText] = parts;
    if (!viewText || !keyText) return null;
    let view: unknown;
    let key: unknown;
    try {
      view = JSON.parse(viewText.toString());
      key = JSON.parse(keyText.toString());
    } catch {
      view = key = undefined;
    }
    if (!isStudentView.Check(view) || !isAnswerKey.Check(key)) {
      this.log.warn({ examId, version }, 'question cache: unusable value in redis, reloading from the database');
      return null;
    }
    return this.codec.fromWire(view, key);
  }

  private writeRedis(examId: number, version: number, value: T): void {
    if (!this.redis) return;
    const { view, key } = this.codec.toWire(value);
    const ttl = this.opts.ttlSeconds;
    this.redis
      .multi()
      .set(this.redisKey(examId, version, 'questions'), JSON.stringify(view), 'EX', ttl)
      .set(this.redisKey(examId, version, 'key'), JSON.stringify(key), 'EX', ttl)
      .exec()
      .catch((err: unknown) => this.log.warn({ err, examId }, 'question cache: redis write failed'));
  }
}
