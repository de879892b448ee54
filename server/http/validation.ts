import { Ajv, type Options } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// ajv-formats is CommonJS; under ESM its default export may arrive wrapped.
const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ??
  addFormatsPlugin) as unknown as (ajv: Ajv) => Ajv;

function makeAjv(opts: Options): Ajv {
  return addFormats(new Ajv({ allErrors: false, removeAdditional: false, useDefaults: true, strict: false, ...opts }));
}

/**
 * Two validators: JSON bodies are checked strictly (a string is never silently turned into a number),
 * while params, query strings and headers, which are always strings on the wire, are coerced.
 */
export function registerValidation(app: FastifyInstance): void {
  const strict = makeAjv({ coerceTypes: false });
  const coercing = makeAjv({ coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object),
  );
}
