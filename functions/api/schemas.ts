import { type RouteConfig, z } from '@hono/zod-openapi';
import { EXECUTION_STATUSES } from '#shared/ports/store';
import { MAX_AGENT_ITERATIONS, MAX_INPUT_DEPTH } from '#shared/workflow-inputs';

/*
 * No schema is built at import. Response schemas are built on first call (then kept): no request reads them
 * (the app validates requests only), so an API Lambda builds them only if it renders the OpenAPI document.
 * Request schemas (bodies, params, queries) are stand-ins (requestSchema) that build theirs on the first
 * request that parses with them, so a cold start builds only the schemas of the route it serves, not the
 * thirty-odd of every route at registration.
 * Each `xSchema()` has a type `XSchema` of the same name for `z.infer<XSchema>`.
 */

/** A value built by its first call and returned by every later one (one instance, as the OpenAPI refs need). */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}

/** Each stand-in made by requestSchema, and the function that builds (once) the schema it stands for. */
const standIns = new WeakMap<object, () => z.ZodType>();

/**
 * A request schema (a body, params or a query) built on its first use. Returns a stand-in, `z.lazy(build)`,
 * which hands every parse to the built schema, so a request gets the same data, the same issues and so the
 * same problem document; it is typed as that schema, whose output it parses to. The OpenAPI document renders
 * the built schema itself ({@link documentedRoute}), as it reads a route's parameters from an object schema.
 */
export function requestSchema<T extends z.ZodType>(build: () => T): T {
  const built = once(build);
  const standIn = z.lazy(built);
  standIns.set(standIn, built);
  // Not a T at run time (a ZodLazy), but it parses exactly as T does; routes and callers only parse with it.
  return standIn as unknown as T;
}

/** The schema a {@link requestSchema} stand-in stands for (built now if it was not yet), or `schema` itself. */
export function builtSchema<T>(schema: T): T {
  const build = typeof schema === 'object' && schema !== null ? standIns.get(schema) : undefined;
  return build ? (build() as T) : schema;
}

/**
 * `route` as the OpenAPI document reads it: its request schemas are the built ones, not their stand-ins. They
 * are built when the document first reads `request` (rendering it), not here, so registering a route builds
 * nothing.
 */
export function documentedRoute<R extends RouteConfig>(route: R): R {
  const { request } = route;
  if (!request) return route;
  let built: RouteConfig['request'] | undefined;
  const build = (): RouteConfig['request'] => {
    const { params, query, cookies, headers, body } = request;
    return {
      ...request,
      ...(params && { params: builtSchema(params) }),
      ...(query && { query: builtSchema(query) }),
      ...(cookies && { cookies: builtSchema(cookies) }),
      ...(headers && { headers: Array.isArray(headers) ? headers.map(builtSchema) : builtSchema(headers) }),
      ...(body && {
        body: {
          ...body,
          content: Object.fromEntries(
            Object.entries(body.content).map(([type, media]) => [
              type,
              media && 'schema' in media ? { ...media, schema: builtSchema(media.schema) } : media,
            ]),
          ),
        },
      }),
    };
  };
  return Object.defineProperty({ ...route }, 'request', {
    enumerable: true,
    get: () => {
      built ??= build();
      return built;
    },
  });
}

export const problemSchema = once(() =>
  z
    .object({
      type: z.string(),
      title: z.string(),
      status: z.number().int(),
      detail: z.string(),
      errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    })
    .openapi('Problem'),
);
export type ProblemSchema = ReturnType<typeof problemSchema>;

export const workflowSchema = once(() =>
  z
    .object({
      name: z.string(),
      description: z.string(),
      inputSchema: z.record(z.string(), z.unknown()).nullable().openapi({
        description:
          "The JSON Schema (draft 2020-12) the workflow's input must satisfy (statemachines/<name>.input.json); null when it declares none",
      }),
    })
    .openapi('Workflow'),
);
export type WorkflowSchema = ReturnType<typeof workflowSchema>;

export const StartExecutionBodySchema = requestSchema(() =>
  z
    .object({
      input: z
        .record(z.string(), z.unknown())
        .default({})
        .openapi({
          example: { goal: 'Summarise the README' },
          description: `The workflow's input: checked against the workflow's inputSchema (GET /workflows; e.g. agent-loop needs a goal and takes maxIterations from 1 to ${MAX_AGENT_ITERATIONS}) and nested at most ${MAX_INPUT_DEPTH} levels deep`,
        }),
      budgetUsd: z
        .number()
        .min(0, 'must be zero or positive')
        .max(1_000_000)
        .refine(
          (v) => Math.abs(v * 1e6 - Math.round(v * 1e6)) < 1e-6,
          'must have at most 6 decimal places (micro-dollars)',
        )
        .optional()
        .openapi({
          example: 0.5,
          description: 'Hard budget for the whole execution, in USD (micro-dollar precision)',
        }),
      idempotencyKey: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -')
        .optional()
        .openapi({ description: 'The same key returns the same execution instead of starting another' }),
    })
    .strict()
    .openapi('StartExecutionRequest'),
);

export const executionSchema = once(() =>
  z
    .object({
      executionId: z.string().openapi({
        description:
          'The Step Functions execution name: <workflow>-<idempotencyKey, or a slug of input.goal, or none>-<short id>',
        example: 'agent-loop-write-a-haiku-about-queues-3f9a1c2b7d4e',
      }),
      consoleUrl: z.string().nullable().openapi({
        description:
          'The execution in the AWS Step Functions console; null on the embedded runtime, which has no console',
        example:
          'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:wflo-dev-agent-loop:agent-loop-write-a-haiku-about-queues-3f9a1c2b7d4e',
      }),
      workflow: z.string(),
      status: z.enum(EXECUTION_STATUSES),
      input: z.unknown(),
      output: z.unknown().nullable(),
      error: z.unknown().nullable(),
      budgetUsd: z.number().nullable(),
      budgetMicros: z.number().int().nullable(),
      costUsd: z.number(),
      costMicros: z.number().int(),
      savedMicros: z.number().int(),
      overrunMicros: z.number().int().openapi({
        description:
          'Spend charged above what its step had reserved (a provider that reported more usage than its worst case; each one raised a budget.overrun event). Included in costMicros; above 0, the run spends nothing more',
      }),
      redriveCount: z.number().int().openapi({ description: 'How many times the run was redriven' }),
      idempotencyKey: z.string().nullable(),
      createdAt: z.string(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
    })
    .openapi('Execution'),
);
export type ExecutionSchema = ReturnType<typeof executionSchema>;

export const redriveResponseSchema = once(() =>
  executionSchema()
    .extend({
      redrive: z.object({
        redriveCount: z.number().int(),
        savedUsd: z.number().openapi({
          description: 'What the steps that had already succeeded cost: spend this redrive does not repeat',
        }),
        savedMicros: z.number().int(),
      }),
    })
    .openapi('RedriveResponse'),
);
export type RedriveResponseSchema = ReturnType<typeof redriveResponseSchema>;

export const executionListSchema = once(() =>
  z.object({ items: z.array(executionSchema()), nextCursor: z.string().nullable() }).openapi('ExecutionList'),
);
export type ExecutionListSchema = ReturnType<typeof executionListSchema>;

export const stepSchema = once(() =>
  z
    .object({
      stepId: z.number().int(),
      stateName: z.string(),
      activity: z.string(),
      attempt: z.number().int(),
      status: z.enum(['running', 'succeeded', 'failed']),
      enteredAt: z.string(),
      startedAt: z.string(),
      finishedAt: z.string().nullable(),
      durationMs: z.number().int().nullable(),
      error: z.unknown().nullable(),
      costMicros: z.number().int(),
    })
    .openapi('Step'),
);
export type StepSchema = ReturnType<typeof stepSchema>;

const totalSchema = once(() =>
  z.object({
    usdMicros: z.number().int(),
    savedMicros: z.number().int(),
    entries: z.number().int(),
  }),
);

export const costsSchema = once(() =>
  z
    .object({
      executionId: z.string(),
      totalMicros: z.number().int(),
      totalUsd: z.number(),
      savedMicros: z.number().int(),
      overrunMicros: z.number().int().openapi({
        description:
          "The execution's spend above its reservations (see Execution.overrunMicros), included in the totals",
      }),
      byKind: z.record(z.string(), totalSchema()),
      byModel: z.record(z.string(), totalSchema()),
      byStep: z.record(z.string(), totalSchema()),
      entries: z.array(
        z.object({
          id: z.number().int(),
          stateName: z.string().nullable(),
          kind: z.string(),
          provider: z.string().nullable(),
          model: z.string().nullable(),
          tokensIn: z.number().int(),
          tokensOut: z.number().int(),
          tokensCached: z.number().int(),
          usdMicros: z.number().int(),
          savedMicros: z.number().int(),
          /**
           * False for spend no usage report confirms (a call abandoned at the client timeout): charged at its
           * worst case, since the provider may have billed it.
           */
          confirmed: z.boolean(),
          createdAt: z.string(),
        }),
      ),
    })
    .openapi('Costs'),
);
export type CostsSchema = ReturnType<typeof costsSchema>;

export const eventSchema = once(() =>
  z
    .object({
      id: z.number().int(),
      eventId: z.string(),
      type: z.string(),
      payload: z.unknown(),
      createdAt: z.string(),
    })
    .openapi('Event'),
);
export type EventSchema = ReturnType<typeof eventSchema>;

export const eventListSchema = once(() =>
  z.object({ items: z.array(eventSchema()), lastId: z.number().int() }).openapi('EventList'),
);
export type EventListSchema = ReturnType<typeof eventListSchema>;

export const ExecutionIdParamSchema = requestSchema(() =>
  z.object({
    id: z
      .string()
      .min(1)
      .max(80)
      .openapi({
        param: { name: 'id', in: 'path' },
        example: 'agent-loop-write-a-haiku-about-queues-3f9a1c2b7d4e',
      }),
  }),
);

export const ListExecutionsQuerySchema = requestSchema(() =>
  z.object({
    workflow: z.string().min(1).optional(),
    status: z.enum(EXECUTION_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).optional(),
  }),
);

export const EventsQuerySchema = requestSchema(() =>
  z.object({
    after: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  }),
);
