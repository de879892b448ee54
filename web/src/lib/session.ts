import type { Role } from './types.js';

export interface Session {
  token: string;
  user: { id: number; name: string; email: string; role: Role };
}

/**
 * The signed-in user of one page, in `localStorage` so that a reload (or a crashed tab) does not sign
 * the student out mid-exam. One key per page, so a student and an invigilator tab do not collide.
 */
export class SessionStore {
  constructor(private readonly key: string) {}

  load(): Session | null {
    try {
      const raw = localStorage.getItem(this.key);
      if (!raw) return null;
      const s = JSON.parse(raw) as Session;
      if (!s.token || !s.user) return null;
      // A token past its `exp` is of no use: forget it instead of failing later.
      const payload = JSON.parse(atob(s.token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
      if (payload.exp && payload.exp * 1000 < Date.now()) return null;
      return s;
    } catch {
      return null;
    }
  }

  save(s: Session): void {
    localStorage.setItem(this.key, JSON.stringify(s));
  }

  clear(): void {
    localStorage.removeItem(this.key);
  }
}
