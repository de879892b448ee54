/**
 * The wire contract in one module: payload schemas (TypeBox = JSON Schema + static types) for every
 * HTTP body and socket event, and the typed shapes of what the server sends back. Imported by the
 * server, the tests and the load tests; `docs/protocol.md` describes it for everyone else.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { AppError } from './errors.js';
import { INVIGILATOR_EVENTS, type EXAM_EVENTS } from './protocol-names.js';

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** Ids are positive integers on the wire (in a URL path, written as digits). */
export const Id = Type.Integer({ minimum: 1, maximum: 2147483647 });
/**
 * The shape of a date-time the server can store, on top of the `date-time` format: RFC 3339's own
 * offset (`Z` or `±hh:mm`, not `±hh`, which JavaScript cannot parse), no leap second (`:60` makes an
 * invalid Date) and a year from 1000 (PostgreSQL refuses year 0, which an offset can reach from 0001).
 */
export const DATE_TIME_PATTERN = '^[1-9]\\d{3}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}:[0-5]\\d(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$';
const IsoDateTime = Type.String({ format: 'date-time', pattern: DATE_TIME_PATTERN });
const AttemptStatus = Type.Union([
  Type.Literal('in_progress'),
  Type.Literal('submitted'),
  Type.Literal('expired'),
  Type.Literal('terminated'),
]);
export type AttemptStatusWire = Static<typeof AttemptStatus>;

/**
 * Text PostgreSQL can store: no NUL character (text and jsonb refuse it) and no unpaired UTF-16
 * surrogate (not valid Unicode; jsonb refuses it). Every string a client sends that may reach the
 * database is checked against it at the edge, so such a string is a VALIDATION error, never a failed
 * write. (Schemas compile regular expressions with the `u` flag: a surrogate pair is one character.)
 */
export const STORABLE_TEXT_PATTERN = '^[^\\u0000\\uD800-\\uDFFF]*$';
const StorableText = (opts: { minLength?: number; maxLength?: number; format?: string } = {}) =>
  Type.String({ ...opts, pattern: STORABLE_TEXT_PATTERN });

/** Rewrites a schema error about {@link STORABLE_TEXT_PATTERN} into words a person can act on. */
export function describeSchemaError(message: string): string {
  if (message.includes(STORABLE_TEXT_PATTERN)) return 'must not contain NUL characters or unpaired surrogates (text that cannot be stored)';
  if (message.includes(DATE_TIME_PATTERN)) return 'must be a date-time like 2030-01-01T09:00:00Z or 2030-01-01T11:00:00+02:00, year 1000 or later';
  // TypeBox's words for a field that `additionalProperties: false` refuses; Ajv's are rewritten the same way.
  if (message === 'schema is false') return 'is not an accepted field';
  return message;
}

const Email = StorableText({ format: 'email', maxLength: 254 });

// ---------------------------------------------------------------------------------------------
// HTTP: auth

export const LoginBody = Type.Object(
  {
    email: StorableText({ minLength: 3, maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

// ---------------------------------------------------------------------------------------------
// HTTP: authoring

const OptionInput = Type.Object(
  {
    text: StorableText({ minLength: 1, maxLength: 2000 }),
    isCorrect: Type.Boolean(),
  },
  { additionalProperties: false },
);

const QuestionInput = Type.Object(
  {
    text: StorableText({ minLength: 1, maxLength: 10000 }),
    points: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    options: Type.Array(OptionInput, { minItems: 2, maxItems: 26 }),
  },
  { additionalProperties: false },
);

const SectionInput = Type.Object(
  {
    title: StorableText({ minLength: 1, maxLength: 300 }),
    questions: Type.Array(QuestionInput, { minItems: 1, maxItems: 1000 }),
  },
  { additionalProperties: false },
);

const examFields = {
  title: StorableText({ minLength: 1, maxLength: 300 }),
  durationSeconds: Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 }),
  gracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  opensAt: Type.Optional(Type.Union([IsoDateTime, Type.Null()])),
  closesAt: Type.Optional(Type.Union([IsoDateTime, Type.Null()])),
  shuffleQuestions: Type.Optional(Type.Boolean()),
  shuffleOptions: Type.Optional(Type.Boolean()),
  /** When students see per-question correctness (their score they see at once). @default 'window_close' */
  resultsRelease: Type.Optional(Type.Union([Type.Literal('immediate'), Type.Literal('window_close'), Type.Literal('manual')])),
  sections: Type.Array(SectionInput, { minItems: 1, maxItems: 100 }),
};

export const CreateExamBody = Type.Object(examFields, { additionalProperties: false });
export type CreateExamBody = Static<typeof CreateExamBody>;

/** Every field optional; `sections`, when present, replaces the whole question tree. */
export const PatchExamBody = Type.Object(
  {
    title: Type.Optional(examFields.title),
    durationSeconds: Type.Optional(examFields.durationSeconds),
    gracePeriodSeconds: examFields.gracePeriodSeconds,
    opensAt: examFields.opensAt,
    closesAt: examFields.closesAt,
    shuffleQuestions: examFields.shuffleQuestions,
    shuffleOptions: examFields.shuffleOptions,
    resultsRelease: examFields.resultsRelease,
    sections: Type.Optional(examFields.sections),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchExamBody = Static<typeof PatchExamBody>;

export const EnrollmentsBody = Type.Object(
  {
    enrollments: Type.Array(
      Type.Object(
        {
          email: Email,
          extraTimeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 24 * 3600 })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 20000 },
    ),
  },
  { additionalProperties: false },
);
export type EnrollmentsBody = Static<typeof EnrollmentsBody>;

export const InvigilatorsBody = Type.Object(
  { emails: Type.Array(Email, { maxItems: 1000 }) },
  { additionalProperties: false },
);
export type InvigilatorsBody = Static<typeof InvigilatorsBody>;

export const IdParams = Type.Object({ id: Id });

// ---------------------------------------------------------------------------------------------
// HTTP: responses. Each route declares its response (Fastify serializes with it, so nothing the
// schema does not name can leave by accident); the domain's types must match these.

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Role = Type.Union([Type.Literal('student'), Type.Literal('invigilator'), Type.Literal('admin')]);
const AttemptStatusOrNotStarted = Type.Union([
  Type.Literal('in_progress'),
  Type.Literal('submitted'),
  Type.Literal('expired'),
  Type.Literal('terminated'),
  Type.Literal('not_started'),
]);

export const LoginResponse = Type.Object({
  token: Type.String(),
  user: Type.Object({ id: Id, name: Type.String(), email: Type.String(), role: Role }),
});

export const ExamSummaryResponse = Type.Object({
  id: Id,
  title: Type.String(),
  durationSeconds: Type.Integer(),
  gracePeriodSeconds: Type.Integer(),
  opensAt: Nullable(Type.String()),
  closesAt: Nullable(Type.String()),
  isPublished: Type.Boolean(),
  version: Type.Integer(),
});
export const ExamListResponse = Type.Object({ exams: Type.Array(ExamSummaryResponse) });

/** The whole exam with its key: admins only. */
export const ExamAdminResponse = Type.Object({
  ...ExamSummaryResponse.properties,
  shuffleQuestions: Type.Boolean(),
  shuffleOptions: Type.Boolean(),
  resultsRelease: Type.Union([Type.Literal('immediate'), Type.Literal('window_close'), Type.Literal('manual')]),
  resultsReleasedAt: Nullable(Type.String()),
  questionCount: Type.Integer(),
  maxScore: Type.Integer(),
  sections: Type.Array(
    Type.Object({
      id: Id,
      title: Type.String(),
      questions: Type.Array(
        Type.Object({
          id: Id,
          text: Type.String(),
          points: Type.Integer(),
          options: Type.Array(Type.Object({ id: Id, text: Type.String(), isCorrect: Type.Boolean() })),
        }),
      ),
    }),
  ),
});

export const EnrollmentsResponse = Type.Object({ enrolled: Type.Integer() });
export const InvigilatorsResponse = Type.Object({ invigilators: Type.Integer() });

export const AttemptResultResponse = Type.Object({
  attempt: Type.Object({
    id: Id,
    examId: Id,
    status: AttemptStatus,
    score: Nullable(Type.Number()),
    maxScore: Nullable(Type.Number()),
    startedAt: Type.String(),
    deadlineAt: Type.String(),
    submittedAt: Nullable(Type.String()),
  }),
  /** False while the exam's results-release rule still holds per-question correctness back (`answers` is then empty). */
  released: Type.Boolean(),
  answers: Type.Array(Type.Object({ questionId: Id, optionId: Nullable(Id), correct: Type.Boolean() })),
});

export const ExamResultsResponse = Type.Object({
  exam: Type.Object({ id: Id, title: Type.String() }),
  results: Type.Array(
    Type.Object({
      student: Type.Object({ id: Id, name: Type.String(), email: Type.String() }),
      attemptId: Nullable(Id),
      status: AttemptStatusOrNotStarted,
      score: Nullable(Type.Number()),
      maxScore: Nullable(Type.Number()),
      answered: Type.Integer(),
      startedAt: Nullable(Type.String()),
      submittedAt: Nullable(Type.String()),
    }),
  ),
});

/** `GET /api/site`: the server's time, and in the demo the logins to try. */
export const SiteResponse = Type.Object({
  serverNow: Type.String(),
  demo: Nullable(
    Type.Object({
      password: Type.String(),
      accounts: Type.Array(Type.Object({ email: Type.String(), role: Role, note: Type.String() })),
    }),
  ),
});

/** `GET /api/attempts`: the calling student's own attempts (scores once ended). */
export const MyAttemptsResponse = Type.Object({
  serverNow: Type.String(),
  attempts: Type.Array(
    Type.Object({
      id: Id,
      examId: Id,
      status: AttemptStatus,
      startedAt: Type.String(),
      deadlineAt: Type.String(),
      submittedAt: Nullable(Type.String()),
      score: Nullable(Type.Number()),
      maxScore: Nullable(Type.Number()),
    }),
  ),
});

/** The contract's error body, for every route's 4xx/5xx. */
export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    retryAfterMs: Type.Optional(Type.Number()),
    details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  }),
});

/** `response` for a route schema: its success body under `status`, the error body for the rest. */
export const responses = <T extends TSchema>(status: 200 | 201, body: T) => ({ [status]: body, '4xx': ErrorResponse, '5xx': ErrorResponse }) as const;

// ---------------------------------------------------------------------------------------------
// Validation outside Fastify (socket events): compiled once, errors in the contract's shape.

interface PayloadValidator<T extends TSchema> {
  /** Returns the payload typed, or throws `VALIDATION` naming the first bad field. */
  parse(value: unknown): Static<T>;
}

export function compileValidator<T extends TSchema>(schema: T): PayloadValidator<T> {
  const validator = Compile(schema);
  return {
    parse(value) {
      if (validator.Check(value)) return value as Static<T>;
      const details = validator
        .Errors(value)
        .slice(0, 5)
        .map((e) => ({ path: e.instancePath || '/', message: describeSchemaError(e.message) }));
      const first = details[0];
      throw new AppError(
        'VALIDATION',
        first ? `${first.path === '/' ? 'payload' : first.path} ${first.message}` : 'Invalid payload',
        { details },
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Socket.IO: namespaces and event names. Every name the server, the pages, the tests and the load
// tests use comes from here.

export {
  EXAM_EVENTS,
  EXAM_NAMESPACE,
  FLAG_EVENT_TYPES,
  INVIGILATOR_EVENTS,
  INVIGILATOR_NAMESPACE,
} from './protocol-names.js';

// ---------------------------------------------------------------------------------------------
// Socket.IO: acks

export interface ErrorBodyWire {
  code: string;
  message: string;
  retryAfterMs?: number;
  details?: { path: string; message: string }[];
}

/** Every socket request is acknowledged with one of these: its data with `ok: true`, or an error. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBodyWire };

/** An event handler's signature: its payload and the ack it is answered with. */
type Request<P, R extends object> = (payload: P, ack: (res: Ack<R>) => void) => void;

/** The data of a successful ack of a request-shaped event (`Request<P, R>` gives `R`). */
export type AckData<F> = F extends (payload: never, ack: (res: Ack<infer R>) => void) => void ? R : never;

/** The payload of a request-shaped event. */
export type PayloadOf<F> = F extends (payload: infer P, ack: never) => void ? P : never;

// ---------------------------------------------------------------------------------------------
// Socket.IO: `/exam` namespace (students)

/** Client -> server payloads. Every event carries an ack callback; every ack is an {@link Ack}. */
export const AttemptStartPayload = Type.Object({ examId: Id }, { additionalProperties: false });
export const AnswerPayload = Type.Object(
  {
    attemptId: Id,
    questionId: Id,
    optionId: Type.Union([Id, Type.Null()]),
    /** Client-side counter per question; the highest wins, a replay is harmless. */
    seq: Type.Integer({ minimum: 0, maximum: 2147483647 }),
  },
  { additionalProperties: false },
);
export const SubmitPayload = Type.Object({ attemptId: Id }, { additionalProperties: false });
export const ProctorEventPayload = Type.Object(
  {
    attemptId: Id,
    type: Type.Union([
      Type.Literal('focus_lost'),
      Type.Literal('focus_gained'),
      Type.Literal('visibility_hidden'),
      Type.Literal('visibility_visible'),
      Type.Literal('fullscreen_exit'),
      Type.Literal('fullscreen_enter'),
      Type.Literal('paste'),
      Type.Literal('copy'),
      Type.Literal('context_menu'),
      Type.Literal('devtools_open'),
      Type.Literal('network_offline'),
      Type.Literal('network_online'),
    ]),
    /** Free-form context from the browser, kept small. */
    detail: Type.Optional(
      // Key lengths need `propertyNames`: TypeBox turns a Record's key schema into the pattern "^.*$" and drops its maxLength.
      Type.Record(Type.String(), Type.Union([StorableText({ maxLength: 500 }), Type.Number(), Type.Boolean(), Type.Null()]), {
        maxProperties: 10,
        propertyNames: { maxLength: 64, pattern: STORABLE_TEXT_PATTERN },
      }),
    ),
  },
  { additionalProperties: false },
);

export type AttemptStartPayload = Static<typeof AttemptStartPayload>;
export type AnswerPayload = Static<typeof AnswerPayload>;
export type SubmitPayload = Static<typeof SubmitPayload>;
export type ProctorEventPayload = Static<typeof ProctorEventPayload>;
export type ProctorEventType = ProctorEventPayload['type'];
/** Every proctoring signal a client may send (the schema's list). */
export const PROCTOR_EVENT_TYPES: readonly ProctorEventType[] = ProctorEventPayload.properties.type.anyOf.map((t) => t.const);


/** What a student sees of an exam: no `isCorrect`, no key, ever. */
export interface StudentExamView {
  id: number;
  title: string;
  sections: {
    id: number;
    title: string;
    questions: { id: number; text: string; points: number; options: { id: number; text: string }[] }[];
  }[];
}

export interface AttemptStartResult {
  attempt: { id: number; status: AttemptStatusWire; startedAt: string; deadlineAt: string; serverNow: string };
  exam: StudentExamView;
  answers: { questionId: number; optionId: number | null; seq: number }[];
}

export interface SubmitResult {
  attempt: { id: number; status: AttemptStatusWire; score: number | null; maxScore: number | null; submittedAt: string | null };
}

// Server -> client payloads are schemas too: nodes pass them to each other through Redis, and what a
// node reads from Redis is checked before it is used.

/** The clock. The client counts down from `deadlineAt` corrected by `serverNow`. */
export const TimerEvent = Type.Object({
  attemptId: Id,
  deadlineAt: Type.String(),
  serverNow: Type.String(),
  remainingMs: Type.Number({ minimum: 0 }),
  /** Why it was sent: on start/resume, a periodic sync, a deadline change, or a 5/1-minute warning. */
  reason: Type.Union([Type.Literal('start'), Type.Literal('sync'), Type.Literal('change'), Type.Literal('warning')]),
});
export type TimerEvent = Static<typeof TimerEvent>;

export const AttemptEndedEvent = Type.Object({
  attemptId: Id,
  status: AttemptStatus,
  /** 'submitted' (by the student), 'deadline' (auto-submit), 'forced' (by an invigilator), 'terminated'. */
  reason: Type.String({ maxLength: 500 }),
});
export type AttemptEndedEvent = Static<typeof AttemptEndedEvent>;

export interface MessageEvent {
  text: string;
  from: string;
  at: string;
}

// The event maps name the contract's events as written in it; the checks after each namespace's maps
// make the compiler hold them equal to the constants of protocol-names.ts (which the pages import).

export interface ExamClientToServerEvents {
  'attempt:start': Request<AttemptStartPayload, AttemptStartResult>;
  answer: Request<AnswerPayload, { seq: number }>;
  submit: Request<SubmitPayload, SubmitResult>;
  'proctor:event': Request<ProctorEventPayload, object>;
}

export interface ExamServerToClientEvents {
  timer: (ev: TimerEvent) => void;
  'attempt:ended': (ev: AttemptEndedEvent) => void;
  message: (ev: MessageEvent) => void;
}

/** True only when A and B are the same set of names. */
type SameNames<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type ExamEventName = (typeof EXAM_EVENTS)[keyof typeof EXAM_EVENTS];
/** Fails to compile when the `/exam` maps and `EXAM_EVENTS` name different events. */
export const EXAM_EVENT_NAMES_AGREE: SameNames<keyof ExamClientToServerEvents | keyof ExamServerToClientEvents, ExamEventName> = true;

// ---------------------------------------------------------------------------------------------
// Socket.IO: `/invigilator` namespace (invigilators assigned to the exam, and admins)

const Text = StorableText({ minLength: 1, maxLength: 2000 });
/** Extensions are positive: an invigilator gives time, never takes it. Up to a day at once. */
const ExtendSeconds = Type.Integer({ minimum: 1, maximum: 86400 });

/**
 * A client-chosen name for an invigilator action (optional): a retry with the same id, by the same
 * user, gets the first request's result and does not act again (a retried extend extends once).
 */
export const RequestId = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const requestId = { requestId: Type.Optional(RequestId) };

export const ExamWatchPayload = Type.Object({ examId: Id }, { additionalProperties: false });
export const AttemptExtendPayload = Type.Object({ attemptId: Id, seconds: ExtendSeconds, ...requestId }, { additionalProperties: false });
export const ExamExtendPayload = Type.Object({ examId: Id, seconds: ExtendSeconds, ...requestId }, { additionalProperties: false });
export const AttemptMessagePayload = Type.Object({ attemptId: Id, text: Text, ...requestId }, { additionalProperties: false });
export const ExamAnnouncePayload = Type.Object({ examId: Id, text: Text, ...requestId }, { additionalProperties: false });
export const AttemptTerminatePayload = Type.Object(
  { attemptId: Id, reason: StorableText({ minLength: 1, maxLength: 500 }), ...requestId },
  { additionalProperties: false },
);
export const AttemptForceSubmitPayload = Type.Object({ attemptId: Id, ...requestId }, { additionalProperties: false });

export type ExamWatchPayload = Static<typeof ExamWatchPayload>;
export type AttemptExtendPayload = Static<typeof AttemptExtendPayload>;
export type ExamExtendPayload = Static<typeof ExamExtendPayload>;
export type AttemptMessagePayload = Static<typeof AttemptMessagePayload>;
export type ExamAnnouncePayload = Static<typeof ExamAnnouncePayload>;
export type AttemptTerminatePayload = Static<typeof AttemptTerminatePayload>;
export type AttemptForceSubmitPayload = Static<typeof AttemptForceSubmitPayload>;

const IsoOrNull = Type.Union([Type.String(), Type.Null()]);

export const RosterRow = Type.Object({
  attemptId: Type.Union([Id, Type.Null()]),
  student: Type.Object({ id: Id, name: Type.String() }),
  status: Type.Union([AttemptStatus, Type.Literal('not_started')]),
  connected: Type.Boolean(),
  answered: Type.Integer({ minimum: 0 }),
  total: Type.Integer({ minimum: 0 }),
  deadlineAt: IsoOrNull,
  remainingMs: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  flags: Type.Integer({ minimum: 0 }),
  extraTimeSeconds: Type.Integer({ minimum: 0 }),
});
export type RosterRow = Static<typeof RosterRow>;

/** A change to one roster row: the ids (and, when sent live, the exam's) plus only the fields that changed. */
export const RosterUpdate = Type.Object({
  attemptId: Type.Union([Id, Type.Null()]),
  student: Type.Object({ id: Id }),
  examId: Type.Optional(Id),
  status: Type.Optional(RosterRow.properties.status),
  connected: Type.Optional(Type.Boolean()),
  answered: Type.Optional(Type.Integer({ minimum: 0 })),
  flags: Type.Optional(Type.Integer({ minimum: 0 })),
  deadlineAt: Type.Optional(IsoOrNull),
  remainingMs: Type.Optional(RosterRow.properties.remainingMs),
});
export type RosterUpdate = Static<typeof RosterUpdate>;

export const InvigilatorProctorEvent = Type.Object({
  examId: Id,
  attemptId: Id,
  student: Type.Object({ id: Id }),
  type: Type.String({ maxLength: 64 }),
  detail: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  at: Type.String(),
});
export type InvigilatorProctorEvent = Static<typeof InvigilatorProctorEvent>;

export const InvigilatorAttemptEnded = Type.Object({ ...AttemptEndedEvent.properties, examId: Id });
export type InvigilatorAttemptEnded = Static<typeof InvigilatorAttemptEnded>;

export interface InvigilatorClientToServerEvents {
  'exam:watch': Request<ExamWatchPayload, { roster: RosterRow[] }>;
  'attempt:extend': Request<AttemptExtendPayload, { deadlineAt: string }>;
  'exam:extend': Request<ExamExtendPayload, { extended: number }>;
  'attempt:message': Request<AttemptMessagePayload, object>;
  'exam:announce': Request<ExamAnnouncePayload, object>;
  'attempt:terminate': Request<AttemptTerminatePayload, SubmitResult>;
  'attempt:submit': Request<AttemptForceSubmitPayload, SubmitResult>;
}

export interface InvigilatorServerToClientEvents {
  'roster:update': (update: RosterUpdate | RosterUpdate[]) => void;
  'proctor:event': (ev: InvigilatorProctorEvent) => void;
  'attempt:ended': (ev: InvigilatorAttemptEnded) => void;
}

type InvigilatorEventName = (typeof INVIGILATOR_EVENTS)[keyof typeof INVIGILATOR_EVENTS];
/** Fails to compile when the `/invigilator` maps and `INVIGILATOR_EVENTS` name different events. */
export const INVIGILATOR_EVENT_NAMES_AGREE: SameNames<
  keyof InvigilatorClientToServerEvents | keyof InvigilatorServerToClientEvents,
  InvigilatorEventName
> = true;

/**
 * One invigilator event for one exam, as it travels between nodes (and to the plain-WebSocket feed):
 * the event name and its payload, paired.
 */
export const InvigilatorDelivery = Type.Union([
  Type.Object({
    examId: Id,
    event: Type.Literal(INVIGILATOR_EVENTS.rosterUpdate),
    payload: Type.Union([RosterUpdate, Type.Array(RosterUpdate)]),
  }),
  Type.Object({ examId: Id, event: Type.Literal(INVIGILATOR_EVENTS.proctorEvent), payload: InvigilatorProctorEvent }),
  Type.Object({ examId: Id, event: Type.Literal(INVIGILATOR_EVENTS.ended), payload: InvigilatorAttemptEnded }),
]);
export type InvigilatorDelivery = Static<typeof InvigilatorDelivery>;
