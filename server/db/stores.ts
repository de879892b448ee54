import type { MikroORM } from '@mikro-orm/postgresql';
import { AnswerStore } from './answer-store.js';
import { AttemptStore } from './attempt-store.js';
import { AuditStore } from './audit-store.js';
import { ExamStore } from './exam-store.js';
import { RosterQueries } from './roster-queries.js';

/** Every store of one node, over its ORM (each call forks its own EntityManager). */
export interface Stores {
  attempts: AttemptStore;
  answers: AnswerStore;
  audit: AuditStore;
  exams: ExamStore;
  roster: RosterQueries;
}

export function createStores(orm: MikroORM): Stores {
  return {
    attempts: new AttemptStore(orm.em),
    answers: new AnswerStore(orm.em),
    audit: new AuditStore(orm.em),
    exams: new ExamStore(orm.em),
    roster: new RosterQueries(orm.em),
  };
}
