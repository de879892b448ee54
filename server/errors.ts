/**
 * The stable error codes of the wire contract. Domain services throw {@link AppError}; the HTTP layer
 * maps it to `{ error: { code, message } }` with {@link httpStatusFor}, the socket layer to
 * `{ ok: false, error: { code, message } }`.
 */
export const ERROR_CODES = [
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'VALIDATION',
  'CONFLICT',
  'NOT_ENROLLED',
  'EXAM_NOT_OPEN',
  'ATTEMPT_CLOSED',
  'DEADLINE_PASSED',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'PAYLOAD_TOO_LARGE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Present on retryable refusals (`RATE_LIMITED`, `UNAVAILABLE`): wait this long, then retry. */
  retryAfterMs?: number;
  /** Present on `VALIDATION`: which fields were wrong and why. */
  details?: { path: string; message: string }[];
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Pick<ErrorBody, 'retryAfterMs' | 'details'> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, ...this.extra };
  }
}

const STATUS: Record<ErrorCode, number> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  VALIDATION: 400,
  CONFLICT: 409,
  NOT_ENROLLED: 403,
  EXAM_NOT_OPEN: 409,
  ATTEMPT_CLOSED: 409,
  DEADLINE_PASSED: 409,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  PAYLOAD_TOO_LARGE: 413,
  INTERNAL: 500,
};

export function httpStatusFor(code: ErrorCode): number {
  return STATUS[code];
}

export const notFound = (what = 'Not found') => new AppError('NOT_FOUND', what);
