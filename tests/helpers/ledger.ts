import { EXAM_EVENTS } from '../../server/protocol.js';
import { sql } from './pg.js';
import { request, type StudentSocket } from './sockets.js';

/** One answer a test client sent. */
export interface SentAnswer {
  attemptId: number;
  questionId: number;
  optionId: number;
  seq: number;
}

/** What became of a sent answer, as the client saw it. */
export type AnswerFate = { kind: 'acked' } | { kind: 'refused'; code: string; retryAfterMs?: number } | { kind: 'no-ack'; error: string };

/** A row of `attempt_answers`. */
export interface StoredAnswer {
  seq: number;
  optionId: number | null;
  answeredAt: string;
}

const keyOf = (a: { attemptId: number; questionId: number }) => `${a.attemptId}:${a.questionId}`;

/**
 * The client side of the oracle: every answer the test clients sent and what they were told about it.
 * An acknowledgement is a promise that the answer is durable; anything else (a refusal, or no ack at
 * all because the node died) is an answer the client still holds in its outbox and must send again.
 */
export class AnswerLedger {
  readonly sent: { answer: SentAnswer; fate: AnswerFate | null }[] = [];

  /** Sends `answer` on `socket` and records what came back (an ack, a refusal, or nothing within `timeoutMs`). */
  async send(socket: StudentSocket, answer: SentAnswer, timeoutMs = 5000): Promise<AnswerFate> {
    const entry: { answer: SentAnswer; fate: AnswerFate | null } = { answer, fate: null };
    this.sent.push(entry);
    const { attemptId, questionId, optionId, seq } = answer;
    try {
      const res = await request(socket, EXAM_EVENTS.answer, { attemptId, questionId, optionId, seq }, timeoutMs);
      if (res.ok) {
        if (res.seq !== seq) throw new Error(`ack of seq ${seq} says seq ${res.seq}`);
        entry.fate = { kind: 'acked' };
      } else {
        entry.fate = { kind: 'refused', code: res.error.code, ...(res.error.retryAfterMs !== undefined ? { retryAfterMs: res.error.retryAfterMs } : {}) };
      }
    } catch (err) {
      entry.fate = { kind: 'no-ack', error: err instanceof Error ? err.message : String(err) };
    }
    return entry.fate;
  }

  get acked(): SentAnswer[] {
    return this.sent.filter((e) => e.fate?.kind === 'acked').map((e) => e.answer);
  }

  /** Sent and not acknowledged (refused, or no ack): the outbox a client sends again. */
  get unacked(): SentAnswer[] {
    return this.sent.filter((e) => e.fate?.kind !== 'acked').map((e) => e.answer);
  }

  /** Of `answers`, the one with the highest seq per attempt and question. */
  static highest(answers: SentAnswer[]): Map<string, SentAnswer> {
    const out = new Map<string, SentAnswer>();
    for (const a of answers) if ((out.get(keyOf(a))?.seq ?? -1) < a.seq) out.set(keyOf(a), a);
    return out;
  }

  /** Every acknowledged answer whose question's stored seq is lower (or missing): must be empty. */
  ackedButNotStored(stored: Map<string, StoredAnswer>): SentAnswer[] {
    return this.acked.filter((a) => (stored.get(keyOf(a))?.seq ?? -1) < a.seq);
  }

  /**
   * The final state the oracle demands once every unacknowledged answer was sent again and acked:
   * one row per attempt and question ever answered, with the highest seq sent and its option, and no
   * other row. Returns the differences (empty when it holds).
   */
  differencesFrom(stored: Map<string, StoredAnswer>): string[] {
    const expected = AnswerLedger.highest(this.sent.map((e) => e.answer));
    const out: string[] = [];
    for (const [k, a] of expected) {
      const row = stored.get(k);
      if (!row || row.seq !== a.seq || row.optionId !== a.optionId) out.push(`${k}: expected seq ${a.seq} option ${a.optionId}, stored ${JSON.stringify(row ?? null)}`);
    }
    for (const k of stored.keys()) if (!expected.has(k)) out.push(`${k}: stored, never sent`);
    return out;
  }
}

/** The answers stored for `attemptIds`, keyed `attempt:question`; fails when any key has more than one row. */
export async function storedAnswers(databaseUrl: string, attemptIds: number[]): Promise<Map<string, StoredAnswer>> {
  const rows = await sql<{ attempt_id: number; question_id: number; seq: number; option_id: number | null; answered_at: Date }>(
    databaseUrl,
    'select attempt_id, question_id, seq, option_id, answered_at from attempt_answers where attempt_id = any($1::int[])',
    [attemptIds],
  );
  const out = new Map<string, StoredAnswer>();
  for (const r of rows) {
    const k = keyOf({ attemptId: r.attempt_id, questionId: r.question_id });
    if (out.has(k)) throw new Error(`${k} stored twice`);
    out.set(k, { seq: r.seq, optionId: r.option_id, answeredAt: r.answered_at.toISOString() });
  }
  return out;
}
