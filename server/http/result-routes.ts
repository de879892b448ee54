import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { currentUser, requireRole } from '../auth/guard.js';
import { AttemptResultResponse, ExamResultsResponse, IdParams, responses } from '../protocol.js';
import { resultsCsv } from './results-csv.js';

export const resultRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/attempts/:id/result', { onRequest: requireRole(), schema: { params: IdParams, response: responses(200, AttemptResultResponse) } }, async (request) =>
    app.results.attemptResult(currentUser(request), request.params.id),
  );

  app.get(
    '/api/exams/:id/results',
    {
      onRequest: requireRole('admin', 'invigilator'),
      schema: {
        params: IdParams,
        querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])) }),
        // The JSON body, or with `?format=csv` the CSV text (a string: the serializer leaves it alone).
        response: responses(200, Type.Union([ExamResultsResponse, Type.String()])),
      },
    },
    async (request, reply) => {
      const data = await app.results.examResults(currentUser(request), request.params.id);
      if (request.query.format !== 'csv') return data;
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="exam-${data.exam.id}-results.csv"`)
        .send(resultsCsv(data.results));
    },
  );
};
