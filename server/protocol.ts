/**
 * The wire contract in one module: payload schemas (TypeBox = JSON Schema + static types) for every
 * HTTP body and socket event, and the typed shapes of what the server sends back. Imported by the
 * server, the tests and the load tests; `docs/protocol.md` describes it for everyone else.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { AppError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** Ids are positive integers on the wire (in a URL path, written as digits). */
export const Id = Type.Integer({ minimum: 1, maximum: 2147483647 });
const IsoDateTime = Type.String({ format: 'date-time' });
const Email = Type.String({ format: 'email', maxLength: 254 });

// ---------------------------------------------------------------------------------------------
// HTTP: auth

export const LoginBody = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

// ---------------------------------------------------------------------------------------------
// HTTP: authoring

export const OptionInput = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 2000 }),
    isCorrect: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const QuestionInput = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 10000 }),
    points: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    options: Type.Array(OptionInput, { minItems: 2, maxItems: 26 }),
  },
  { additionalProperties: false },
);

export const SectionInput = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 300 }),
    questions: Type.Array(QuestionInput, { minItems: 1, maxItems: 1000 }),
  },
  { additionalProperties: false },
);

const examFields = {
  title: Type.String({ minLength: 1, maxLength: 300 }),
  durationSeconds: Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 }),
  gracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  opensAt: Type.Optional(Type.Union([IsoDateTime, Type.Null()])),
  closesAt: Type.Optional(Type.Union([IsoDateTime, Type.Null()])),
  shuffleQuestions: Type.Optional(Type.Boolean()),
  shuffleOptions: Type.Optional(Type.Boolean()),
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
// Validation outside Fastify (socket events): compiled once, errors in the contract's shape.

export interface PayloadValidator<T extends TSchema> {
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
        .map((e) => ({ path: e.instancePath || '/', message: e.message }));
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
export const PROCTOR_EVENT_TYPES = [
  'focus_lost',
  'focus_gained',
  'visibility_hidden',
  'visibility_visible',
  'fullscreen_exit',
  'fullscreen_enter',
  'paste',
  'copy',
  'context_menu',
  'devtools_open',
  'network_offline',
  'network_online',
] as const;
export const ProctorEventPayload = Type.Object(
  {
    attemptId: Id,
    type: Type.Union(PROCTOR_EVENT_TYPES.map((t) => Type.Literal(t))),
    /** Free-form context from the browser, kept small. */
    detail: Type.Optional(
      // Key lengths need `propertyNames`: TypeBox turns a Record's key schema into the pattern "^.*$" and drops its maxLength.
      Type.Record(Type.String(), Type.Union([Type.String({ maxLength: 500 }), Type.Number(), Type.Boolean(), Type.Null()]), {
        maxProperties: 10,
        propertyNames: { maxLength: 64 },
      }),
    ),
  },
  { additionalProperties: false },
);

export type AttemptStartPayload = Static<typeof AttemptStartPayload>;
export type AnswerPayload = Static<typeof AnswerPayload>;
export type SubmitPayload = Static<typeof SubmitPayload>;
export type ProctorEventPayload = Static<typeof ProctorEventPayload>;
export type ProctorEventType = (typeof PROCTOR_EVENT_TYPES)[number];

export type AttemptStatusWire = 'in_progress' | 'submitted' | 'expired' | 'terminated';

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

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBodyWire };
export interface ErrorBodyWire {
  code: string;
  message: string;
  retryAfterMs?: number;
  details?: { path: string; message: string }[];
}

/** Server -> client: the clock. The client counts down from `deadlineAt` corrected by `serverNow`. */
export interface TimerEvent {
  attemptId: number;
  deadlineAt: string;
  serverNow: string;
  remainingMs: number;
  /** Why it was sent: on start/resume, a periodic sync, a deadline change, or a 5/1-minute warning. */
  reason: 'start' | 'sync' | 'change' | 'warning';
}

export interface AttemptEndedEvent {
  attemptId: number;
  status: AttemptStatusWire;
  /** 'submitted' (by the student), 'deadline' (auto-submit), 'forced' (by an invigilator), 'terminated'. */
  reason: string;
}

export interface MessageEvent {
  text: string;
  from: string;
  at: string;
}

export interface ExamClientToServerEvents {
  'attempt:start': (payload: AttemptStartPayload, ack: (res: Ack<AttemptStartResult>) => void) => void;
  answer: (payload: AnswerPayload, ack: (res: Ack<{ seq: number }>) => void) => void;
  submit: (payload: SubmitPayload, ack: (res: Ack<SubmitResult>) => void) => void;
  'proctor:event': (payload: ProctorEventPayload, ack: (res: Ack) => void) => void;
}

export interface ExamServerToClientEvents {
  timer: (ev: TimerEvent) => void;
  'attempt:ended': (ev: AttemptEndedEvent) => void;
  message: (ev: MessageEvent) => void;
}

/** The event names of the `/exam` namespace, for code that registers or checks them. */
export const EXAM_EVENTS = {
  start: 'attempt:start',
  answer: 'answer',
  submit: 'submit',
  proctor: 'proctor:event',
  timer: 'timer',
  ended: 'attempt:ended',
  message: 'message',
} as const;

// ---------------------------------------------------------------------------------------------
// Socket.IO: `/invigilator` namespace (invigilators assigned to the exam, and admins)

const Text = Type.String({ minLength: 1, maxLength: 2000 });
/** Extensions are positive: an invigilator gives time, never takes it. Up to a day at once. */
const ExtendSeconds = Type.Integer({ minimum: 1, maximum: 86400 });

export const ExamWatchPayload = Type.Object({ examId: Id }, { additionalProperties: false });
export const AttemptExtendPayload = Type.Object({ attemptId: Id, seconds: ExtendSeconds }, { additionalProperties: false });
export const ExamExtendPayload = Type.Object({ examId: Id, seconds: ExtendSeconds }, { additionalProperties: false });
export const AttemptMessagePayload = Type.Object({ attemptId: Id, text: Text }, { additionalProperties: false });
export const ExamAnnouncePayload = Type.Object({ examId: Id, text: Text }, { additionalProperties: false });
export const AttemptTerminatePayload = Type.Object(
  { attemptId: Id, reason: Type.String({ minLength: 1, maxLength: 500 }) },
  { additionalProperties: false },
);
export const AttemptForceSubmitPayload = Type.Object({ attemptId: Id }, { additionalProperties: false });

export type ExamWatchPayload = Static<typeof ExamWatchPayload>;

/** Proctoring signals that count as a flag on the roster. */
export const FLAG_EVENT_TYPES: readonly ProctorEventType[] = [
  'focus_lost',
  'visibility_hidden',
  'fullscreen_exit',
  'paste',
  'copy',
  'devtools_open',
];

export interface RosterRow {
  attemptId: number | null;
  student: { id: number; name: string };
  status: AttemptStatusWire | 'not_started';
  connected: boolean;
  answered: number;
  total: number;
  deadlineAt: string | null;
  remainingMs: number | null;
  flags: number;
  extraTimeSeconds: number;
}

/** A change to one roster row: the ids (and, when sent live, the exam's) plus only the fields that changed. */
export type RosterUpdate = { attemptId: number | null; student: { id: number }; examId?: number } & Partial<
  Pick<RosterRow, 'status' | 'connected' | 'answered' | 'flags' | 'deadlineAt' | 'remainingMs'>
>;

export interface InvigilatorProctorEvent {
  examId: number;
  attemptId: number;
  student: { id: number };
  type: string;
  detail: Record<string, unknown> | null;
  at: string;
}

export interface InvigilatorServerToClientEvents {
  'roster:update': (update: RosterUpdate | RosterUpdate[]) => void;
  'proctor:event': (ev: InvigilatorProctorEvent) => void;
  'attempt:ended': (ev: AttemptEndedEvent & { examId: number }) => void;
}

export const INVIGILATOR_EVENTS = {
  watch: 'exam:watch',
  extendAttempt: 'attempt:extend',
  extendExam: 'exam:extend',
  message: 'attempt:message',
  announce: 'exam:announce',
  terminate: 'attempt:terminate',
  forceSubmit: 'attempt:submit',
  rosterUpdate: 'roster:update',
  proctorEvent: 'proctor:event',
  ended: 'attempt:ended',
} as const;
