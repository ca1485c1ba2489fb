import { createRoute, z } from '@hono/zod-openapi';
import {
  costsSchema,
  EventsQuerySchema,
  ExecutionIdParamSchema,
  eventListSchema,
  executionListSchema,
  executionSchema,
  ListExecutionsQuerySchema,
  once,
  problemSchema,
  redriveResponseSchema,
  StartExecutionBodySchema,
  stepSchema,
  workflowSchema,
} from './schemas.ts';

/* The API's routes as OpenAPI definitions: the app (app.ts) implements them, the document lists them. */

/**
 * A response's `content`: `{ [mediaType]: { schema } }`, where `schema` may be a function that builds it. Such a
 * schema is built when first read (once), which only the OpenAPI document does: a request never reads a
 * response schema, so serving one builds none of them (see schemas.ts).
 */
function content<M extends string, T extends z.ZodType>(mediaType: M, schema: T | (() => T)) {
  const media = {} as { readonly schema: T };
  Object.defineProperty(media, 'schema', {
    enumerable: true,
    get: typeof schema === 'function' ? once(schema) : () => schema,
  });
  return { [mediaType]: media } as { [K in M]: { readonly schema: T } };
}

/** A problem-document response of a route (RFC 9457 body). */
export const problemResponse = (description: string) => ({
  content: content('application/problem+json', problemSchema),
  description,
});

/** A JSON response of a route: its schema, or a function that builds it (when the document is rendered). */
export const json = <T extends z.ZodType>(schema: T | (() => T), description: string) => ({
  content: content('application/json', schema),
  description,
});

/** Every route of the API, by handler name. */
export const routes = {
  health: createRoute({
    method: 'get',
    path: '/health',
    tags: ['ops'],
    responses: {
      200: json(
        () => z.object({ status: z.literal('ok'), store: z.string() }),
        'The API and its store answer',
      ),
    },
  }),
  listWorkflows: createRoute({
    method: 'get',
    path: '/workflows',
    tags: ['workflows'],
    responses: { 200: json(() => z.object({ items: z.array(workflowSchema()) }), 'Every deployed workflow') },
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
      201: json(executionSchema, 'Execution started'),
      200: json(executionSchema, 'An execution with this idempotencyKey already exists; it is returned'),
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
      200: json(executionListSchema, 'Newest first, paginated by cursor'),
      400: problemResponse('Bad query'),
    },
  }),
  getExecution: createRoute({
    method: 'get',
    path: '/executions/{id}',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: { 200: json(executionSchema, 'The execution'), 404: problemResponse('No such execution') },
  }),
  cancelExecution: createRoute({
    method: 'post',
    path: '/executions/{id}/cancel',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: {
      200: json(
        executionSchema,
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
        redriveResponseSchema,
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
      200: json(
        () => z.object({ items: z.array(stepSchema()) }),
        'Every attempt of every activity step, in order',
      ),
      404: problemResponse('No such execution'),
    },
  }),
  getCosts: createRoute({
    method: 'get',
    path: '/executions/{id}/costs',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema },
    responses: {
      200: json(costsSchema, 'The cost ledger and its totals'),
      404: problemResponse('No such execution'),
    },
  }),
  listEvents: createRoute({
    method: 'get',
    path: '/executions/{id}/events',
    tags: ['executions'],
    request: { params: ExecutionIdParamSchema, query: EventsQuerySchema },
    responses: {
      200: json(eventListSchema, 'Events after the given id, oldest first; poll with after=lastId'),
      404: problemResponse('No such execution'),
    },
  }),
};
