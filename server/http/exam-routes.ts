import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { currentUser, requireRole } from '../auth/guard.js';
import {
  createExam,
  examAdminView,
  examSummary,
  listExamsFor,
  loadExamTree,
  publishExam,
  releaseResults,
  setEnrollments,
  setInvigilators,
  updateExam,
} from '../exam/authoring.js';
import { notFound } from '../errors.js';
import {
  CreateExamBody,
  EnrollmentsBody,
  EnrollmentsResponse,
  ExamAdminResponse,
  ExamListResponse,
  ExamSummaryResponse,
  IdParams,
  InvigilatorsBody,
  InvigilatorsResponse,
  PatchExamBody,
  responses,
} from '../protocol.js';

/** Authoring (admins) and the exam list (everyone signed in). Handlers validate, call the service, reply. */
export const examRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const admin = requireRole('admin');

  app.get('/api/exams', { onRequest: requireRole(), schema: { response: responses(200, ExamListResponse) } }, async (request) => {
    const exams = await listExamsFor(request.em, currentUser(request));
    return { exams: exams.map(examSummary) };
  });

  app.post('/api/exams', { onRequest: admin, schema: { body: CreateExamBody, response: responses(201, ExamAdminResponse) } }, async (request, reply) => {
    const exam = await createExam(request.em, request.body);
    const tree = await loadExamTree(request.em, exam.id);
    return reply.status(201).send(examAdminView(tree!));
  });

  app.get('/api/exams/:id', { onRequest: admin, schema: { params: IdParams, response: responses(200, ExamAdminResponse) } }, async (request) => {
    const exam = await loadExamTree(request.em, request.params.id);
    if (!exam) throw notFound('Exam not found');
    return examAdminView(exam);
  });

  app.patch('/api/exams/:id', { onRequest: admin, schema: { params: IdParams, body: PatchExamBody, response: responses(200, ExamAdminResponse) } }, async (request) => {
    const exam = await updateExam(request.em, request.params.id, request.body);
    app.examChanged(exam.id);
    return examAdminView(exam);
  });

  app.post('/api/exams/:id/publish', { onRequest: admin, schema: { params: IdParams, response: responses(200, ExamSummaryResponse) } }, async (request) => {
    const exam = await publishExam(request.em, request.params.id);
    return examSummary(exam);
  });

  app.post('/api/exams/:id/results/release', { onRequest: admin, schema: { params: IdParams, response: responses(200, ExamAdminResponse) } }, async (request) =>
    examAdminView(await releaseResults(request.em, request.params.id)),
  );

  app.put(
    '/api/exams/:id/enrollments',
    { onRequest: admin, schema: { params: IdParams, body: EnrollmentsBody, response: responses(200, EnrollmentsResponse) } },
    async (request) => setEnrollments(request.em, request.params.id, request.body.enrollments),
  );

  app.put(
    '/api/exams/:id/invigilators',
    { onRequest: admin, schema: { params: IdParams, body: InvigilatorsBody, response: responses(200, InvigilatorsResponse) } },
    async (request) => {
      const { invigilators, invigilatorIds } = await setInvigilators(request.em, request.params.id, request.body.emails);
      app.invigilatorsChanged(request.params.id, invigilatorIds);
      return { invigilators };
    },
  );
};
