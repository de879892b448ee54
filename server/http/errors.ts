import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { isDatabaseUnavailable, DATABASE_RETRY_AFTER_MS, missingReferenceError } from '../db/unavailable.js';
import { AppError, httpStatusFor, type ErrorBody } from '../errors.js';
import { describeSchemaError } from '../protocol.js';

interface AjvError {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `/sections/0/title`, from Ajv's error (a missing property is named by its parent path + name). */
function fieldPath(e: AjvError): string {
  const missing = e.params?.missingProperty;
  const extra = e.params?.additionalProperty;
  const name = typeof missing === 'string' ? missing : typeof extra === 'string' ? extra : undefined;
  return name ? `${e.instancePath}/${name}` : e.instancePath || '/';
}

function toErrorBody(error: FastifyError | AppError | Error): { status: number; body: ErrorBody } {
  if (error instanceof AppError) return { status: httpStatusFor(error.code), body: error.toBody() };
  const fe = error as FastifyError;
  if (fe.validation) {
    const details = (fe.validation as AjvError[]).slice(0, 10).map((e) => ({
      path: fieldPath(e),
      message: e.params?.additionalProperty ? 'is not an accepted field' : describeSchemaError(e.message ?? 'is invalid'),
    }));
    const first = details[0];
    const where = fe.validationContext ?? 'body';
    return {
      status: 400,
      body: {
        code: 'VALIDATION',
        message: first ? `${where}${first.path === '/' ? '' : first.path} ${first.message}` : 'Invalid request',
        details,
      },
    };
  }
  if (error instanceof UniqueConstraintViolationException) {
    return { status: 409, body: { code: 'CONFLICT', message: 'That already exists' } };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { code: 'PAYLOAD_TOO_LARGE', message: 'Request body is too large' } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { code: 'VALIDATION', message: 'Send the body as application/json' } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { code: 'VALIDATION', message: 'The JSON body is empty' } };
  }
  if (fe.statusCode === 400 && error instanceof SyntaxError) {
    return { status: 400, body: { code: 'VALIDATION', message: 'The body is not valid JSON' } };
  }
  if (fe.statusCode === 429) {
    return { status: 429, body: { code: 'RATE_LIMITED', message: 'Too many requests', retryAfterMs: 1000 } };
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { code: 'VALIDATION', message: fe.message } };
  }
  if (isDatabaseUnavailable(error)) {
    return {
      status: 503,
      body: { code: 'UNAVAILABLE', message: 'The database is unreachable; try again shortly', retryAfterMs: DATABASE_RETRY_AFTER_MS },
    };
  }
  const missing = missingReferenceError(error);
  if (missing) return { status: httpStatusFor(missing.code), body: missing };
  return { status: 500, body: { code: 'INTERNAL', message: 'Internal server error' } };
}

/**
 * Sends `error` in the contract's shape. The error handler of every route, and Fastify's
 * `frameworkErrors` (what the router refuses before any route: a malformed %-escape in the URL, a path
 * parameter over `maxParamLength`), which would otherwise leave in Fastify's own shape.
 */
export function replyWithError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = toErrorBody(error);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  else if (missingReferenceError(error)) request.log.warn({ err: error }, 'request: a write referred to a row that does not exist');
  if (body.retryAfterMs) void reply.header('retry-after', Math.ceil(body.retryAfterMs / 1000));
  return reply.status(status).send({ error: body });
}

/** Every error leaves as `{ error: { code, message } }`; unknown routes too. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => replyWithError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `No route ${request.method} ${request.url.split('?')[0]}` } }),
  );
}
