import type { ExamResultRow } from '../exam/results.js';

/** A CSV cell: quoted when needed, and defused when a spreadsheet would read it as a formula. */
function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** An exam's results as CSV (RFC 4180 line ends), one row per student. */
export function resultsCsv(results: ExamResultRow[]): string {
  const header = ['student_id', 'name', 'email', 'attempt_id', 'status', 'score', 'max_score', 'answered', 'started_at', 'submitted_at'];
  const lines = results.map((r) =>
    [r.student.id, r.student.name, r.student.email, r.attemptId, r.status, r.score, r.maxScore, r.answered, r.startedAt, r.submittedAt]
      .map(csvCell)
      .join(','),
  );
  return [header.join(','), ...lines].join('\r\n') + '\r\n';
}
