import type { Role } from '../../entities/user.js';

/** Who asks: enough to decide what they may see and do. */
export interface Caller {
  id: number;
  role: Role;
}

/** Answers "is this user assigned to invigilate this exam?" (the persistence layer's ExamStore does). */
export interface InvigilatorLookup {
  isInvigilator(examId: number, userId: number): Promise<boolean>;
}

/**
 * The one rule for who may watch and act on an exam (console, actions, results): an admin, or an
 * invigilator assigned to it. Costs a statement only for an invigilator.
 */
export async function mayInvigilate(lookup: InvigilatorLookup, user: Caller, examId: number): Promise<boolean> {
  if (user.role === 'admin') return true;
  if (user.role !== 'invigilator') return false;
  return lookup.isInvigilator(examId, user.id);
}
