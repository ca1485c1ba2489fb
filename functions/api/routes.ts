import { createRoute, z } from '@hono/zod-openapi';
import {
  CostsSchema,
  EventListSchema,
  EventsQuerySchema,
  ExecutionIdParamSchema,
  ExecutionListSchema,
  ExecutionSchema,
  ListExecutionsQuerySchema,
  ProblemSchema,
  RedriveResponseSchema,
  StartExecutionBodySchema,
  StepSchema,
  WorkflowSchema,
} from './schemas.ts';

/* The API's routes as OpenAPI definitions: the app (app.ts) implements them, the document lists them. */

/** A problem-document response of a route (RFC 9457 body). */
export const problemResponse = (description: string) => ({
  content: { 'application/problem+json': { schema: ProblemSchema } },
  description,
});

/** A JSON response of a route. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

/** Every route of the API, by handler name. */
export const routes = {
  health: createRoute({
    method: 'get',
    path: '/health',
    tags: ['ops'],
    responses: {
      200: json(z.object({ status: z.literal('ok'), store: z.string() }), 'The API and its store answer'),
    },
  }),
  listWorkflows: createRoute({
    method: 'get',
    path: '/workflows',
    tags: ['workflows'],
    responses: { 200: json(z.object({ items: z.array(WorkflowSchema) }), 'Every deployed workflow') },
  }),
  startExecution: createRoute({
    method: 'post',
    path: '/workflows/{name}/executions',
    tags: ['executions'],
    request: {
      params: z.object({
        name: z
          .string()
          .min(1)
          .openapi({ param: { name: 'name', in: 'path' }, example: 'agent-loop' }),
      }),
      body: { content: { 'application/json': { schema: StartExecutionBodySchema } }, required: true },
    },
    responses: {
      201: json(ExecutionSchema, 'Execution started'),
      200: json(ExecutionSchema, 'An execution with this idempotencyKey already exists; it is returned'),
      400: problemResponse(
        "Malformed JSON, a field violates the schema, or the input fails the workflow's check, e.g. agent-loop's " +
          'maxIterations (the field is named)',
      ),
      404: problemResponse('No such workflow'),
      409: problemResponse('The idempotencyKey was used with a different input'),
      413: problemResponse('Input larger than the 256 KiB Step Functions limit'),
    },
  }),
  listExecutions: createRoute({
    method: 'get',
    path: '/executions',
    tags: ['executions'],
    request: { query: ListExecutionsQuerySchema },
    responses: {
      200: json(ExecutionListSchema, 'Newest first, paginated by cursor'),
      400: problemResponse('Bad query'),
    },
  }),
  getExecution: createRoute({
    method: 'get',
    path: '/executions/{id}',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: { 200: json(ExecutionSchema, 'The execution'), 404: problemResponse('No such execution') },
  }),
  cancelExecution: createRoute({
    method: 'post',
    path: '/executions/{id}/cancel',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: {
      200: json(
        ExecutionSchema,
        'Cancelled: recorded `cancelled`, stopped on the engine (StopExecution on AWS), every budget reservation released and every running step ended',
      ),
      404: problemResponse('No such execution'),
      409: problemResponse('The execution already ended (its status is named)'),
    },
  }),
  redriveExecution: createRoute({
    method: 'post',
    path: '/executions/{id}/redrive',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: {
      200: json(
        RedriveResponseSchema,
        'Redriven: running again from the state that failed (RedriveExecution on AWS); steps that had succeeded answer from their kept results and are not paid again',
      ),
      404: problemResponse('No such execution'),
      409: problemResponse(
        'Not failed, timed out or cancelled (its status is named), ended more than 14 days ago, or the engine refused',
      ),
    },
  }),
  listSteps: createRoute({
    method: 'get',
    path: '/executions/{id}/steps',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: {
      200: json(z.object({ items: z.array(StepSchema) }), 'Every attempt of every activity step, in order'),
      404: problemResponse('No such execution'),
    },
  }),
  getCosts: createRoute({
    method: 'get',
    path: '/executions/{id}/costs',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: {
      200: json(CostsSchema, 'The cost ledger and its totals'),
      404: problemResponse('No such execution'),
    },
  }),
  listEvents: createRoute({
    method: 'get',
    path: '/executions/{id}/events',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema, query: EventsQuerySchema },
    responses: {
      200: json(EventListSchema, 'Events after the given id, oldest first; poll with after=lastId'),
      404: problemResponse('No such execution'),
    },
  }),
};
