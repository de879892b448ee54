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

/** Ids are positive integers on the wire; clients may send them as numeric strings. */
export const Id = Type.Integer({ minimum: 1, maximum: 2147483647 });
const IsoDateTime = Type.String({ format: 'date-time' });
const Email = Type.String({ format: 'email', maxLength: 254 });

export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    retryAfterMs: Type.Optional(Type.Integer()),
  }),
});

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
