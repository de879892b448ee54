/** An answer given but not yet acknowledged by the server. */
export interface PendingAnswer {
  optionId: number | null;
  seq: number;
}

/**
 * Answers not yet acknowledged, kept in `localStorage` (one entry per student and exam) so that a
 * reload, a crash or a lost connection loses nothing: what is in here is sent again after every
 * (re)connect. Only the server's ack takes an answer out; nothing in here counts as saved.
 */
export class Outbox {
  private readonly pending = new Map<number, PendingAnswer>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly key: string) {
    try {
      const raw = localStorage.getItem(key);
      const stored = raw ? (JSON.parse(raw) as Record<string, PendingAnswer>) : {};
      for (const [q, p] of Object.entries(stored)) {
        const questionId = Number(q);
        if (Number.isInteger(questionId) && Number.isInteger(p.seq)) this.pending.set(questionId, { optionId: p.optionId ?? null, seq: p.seq });
      }
    } catch {
      // A corrupt entry is dropped: the server's answers are the truth.
    }
  }

  get size(): number {
    return this.pending.size;
  }

  get(questionId: number): PendingAnswer | undefined {
    return this.pending.get(questionId);
  }

  entries(): [number, PendingAnswer][] {
    return [...this.pending];
  }

  put(questionId: number, answer: PendingAnswer): void {
    this.pending.set(questionId, answer);
    this.changed();
  }

  /** The server has stored `seq` (or a later one) for the question: an entry at or below it is done. Returns whether one was removed. */
  acknowledge(questionId: number, seq: number): boolean {
    const p = this.pending.get(questionId);
    if (!p || p.seq > seq) return false;
    this.pending.delete(questionId);
    this.changed();
    return true;
  }

  /** Gives up on an answer the server refused for good (e.g. after the deadline). */
  drop(questionId: number): void {
    if (this.pending.delete(questionId)) this.changed();
  }

  /** Resolves once every entry has been acknowledged (or dropped). */
  drained(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.pending.size > 0) return;
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
    });
  }

  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }

  /** Forgets the stored entries (the attempt has ended). */
  discard(): void {
    this.pending.clear();
    localStorage.removeItem(this.key);
    this.changed(false);
  }

  private changed(persist = true): void {
    if (persist) {
      if (this.pending.size === 0) localStorage.removeItem(this.key);
      else localStorage.setItem(this.key, JSON.stringify(Object.fromEntries(this.pending)));
    }
    for (const fn of [...this.listeners]) fn();
  }
}
