/** Shapes of HTTP responses the pages read (the socket payloads come from server/protocol.ts). */
export type Role = 'student' | 'invigilator' | 'admin';

export interface ExamSummary {
  id: number;
  title: string;
  durationSeconds: number;
  gracePeriodSeconds: number;
  opensAt: string | null;
  closesAt: string | null;
  isPublished: boolean;
  version: number;
}

export interface MyAttempt {
  id: number;
  examId: number;
  status: 'in_progress' | 'submitted' | 'expired' | 'terminated';
  startedAt: string;
  deadlineAt: string;
  submittedAt: string | null;
  score: number | null;
  maxScore: number | null;
}

/** `GET /api/site`: what the pages need to know about this server. */
export interface SiteInfo {
  serverNow: string;
  /** Null unless this server runs with the demo data. */
  demo: { password: string; accounts: { email: string; role: Role; note: string }[] } | null;
}

export interface AttemptResultBody {
  attempt: MyAttempt;
  answers: { questionId: number; optionId: number | null; correct: boolean }[];
}

export interface ExamResultsBody {
  exam: { id: number; title: string };
  results: {
    student: { id: number; name: string; email: string };
    attemptId: number | null;
    status: string;
    score: number | null;
    maxScore: number | null;
    answered: number;
    startedAt: string | null;
    submittedAt: string | null;
  }[];
}
