/**
 * Shapes of the HTTP responses the pages read: the routes' own response schemas in
 * server/protocol.ts (type-only imports: nothing of TypeBox reaches the bundle).
 */
import type { Static } from 'typebox';
import type {
  AttemptResultResponse,
  ExamResultsResponse,
  ExamSummaryResponse,
  LoginResponse,
  MyAttemptsResponse,
  SiteResponse,
} from '../../../server/protocol.js';

export type Role = Static<typeof LoginResponse>['user']['role'];
export type ExamSummary = Static<typeof ExamSummaryResponse>;
export type MyAttempt = Static<typeof MyAttemptsResponse>['attempts'][number];
/** `GET /api/site`: what the pages need to know about this server. */
export type SiteInfo = Static<typeof SiteResponse>;
export type AttemptResultBody = Static<typeof AttemptResultResponse>;
export type ExamResultsBody = Static<typeof ExamResultsResponse>;
