import { OpenAPIHono, type z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { LinearRouter } from 'hono/router/linear-router';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { summarizeCosts } from '#shared/costs';
import {
  ApprovalExpiredError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  StoreUnavailableError,
  TaskCallbackError,
  UnauthenticatedError,
  ValidationError,
} from '#shared/errors';
import { cancelExecution, MAX_INPUT_BYTES, redriveExecution, startExecution } from '#shared/executions';
import { microsToUsd, usdToMicros } from '#shared/money';
import type { WorkflowEngine } from '#shared/ports/engine';
import type { CostEntryRow, EventRow, ExecutionRow, StepRow, Store } from '#shared/ports/store';
import type { TaskTokenCallbacks } from '#shared/ports/task-callbacks';
import { type ApprovalApiDeps, registerApprovalRoutes } from './approvals.ts';
import type { EventHub } from './event-hub.ts';
import { routes } from './routes.ts';
import { documentedRoute, type ExecutionSchema, type ProblemSchema, type StepSchema } from './schemas.ts';
import { apiSecurityHeaders } from './security-headers.ts';
import { registerStreamRoutes, type StreamOptions } from './stream.ts';
import { registerTaskTokenRoutes } from './task-tokens.ts';
import { registerWorkflowStreamRoute } from './workflow-stream.ts';

export interface ApiDeps {
  readonly store: Store;
  readonly engine: WorkflowEngine;
  /** Budget for executions started without one. @default none */
  readonly defaultBudgetMicros?: number | undefined;
  /** Approvals (GET /approvals, POST /approvals/{id}/decision). @default none: those routes answer 503 */
  readonly approvals?: ApprovalApiDeps | undefined;
  /** SSE polling, heartbeat and slow-client limits (functions/api/stream.ts). @default its defaults */
  readonly stream?: StreamOptions | undefined;
  /** The process's one outbox reader for SSE streams (functions/api/event-hub.ts). @default one over `store` */
  readonly eventHub?: EventHub | undefined;
  /** SendTaskSuccess/Failure/Heartbeat (POST /task-tokens/…). @default none: those routes answer 503 */
  readonly taskTokens?: TaskTokenCallbacks | undefined;
}

type Problem = z.infer<ProblemSchema>;

/** An RFC 9457 problem document, the body of every 4xx/5xx answer. */
export function problem(status: number, title: string, detail: string, errors?: Problem['errors']): Problem {
  return {
    type: `https://wflo.dev/problems/${title.toLowerCase().replace(/\s+/g, '-')}`,
    title,
    status,
    detail,
    ...(errors ? { errors } : {}),
  };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** An execution row as the API returns it, with where to watch it (the engine's console URL, or null). */
export function toExecution(row: ExecutionRow, consoleUrl: string | null = null): z.infer<ExecutionSchema> {
  return {
    executionId: row.id,
    consoleUrl,
    workflow: row.workflow,
    status: row.status,
    input: row.input,
    output: row.output ?? null,
    error: row.error ?? null,
    budgetUsd: row.budgetMicros === null ? null : microsToUsd(row.budgetMicros),
    budgetMicros: row.budgetMicros,
    costUsd: microsToUsd(row.costMicros),
    costMicros: row.costMicros,
    savedMicros: row.savedMicros,
    overrunMicros: row.overrunMicros,
    redriveCount: row.redriveCount,
    idempotencyKey: row.idempotencyKey,
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
  };
}

function toStep(row: StepRow): z.infer<StepSchema> {
  return {
    stepId: row.id,
    stateName: row.stateName,
    activity: row.activity,
    attempt: row.attempt,
    status: row.status,
    enteredAt: new Date(row.enteredAt).toISOString(),
    startedAt: row.startedAt.toISOString(),
    finishedAt: iso(row.finishedAt),
    durationMs: row.durationMs,
    error: row.error ?? null,
    costMicros: row.costMicros,
  };
}

function toCostEntry(row: CostEntryRow) {
  return {
    id: row.id,
    stateName: row.stateName,
    kind: row.kind,
    provider: row.provider,
    model: row.model,
    tokensIn: row.tokensIn,
    tokensOut: row.tokensOut,
    tokensCached: row.tokensCached,
    usdMicros: row.usdMicros,
    savedMicros: row.savedMicros,
    confirmed: row.confirmed,
    createdAt: row.createdAt.toISOString(),
  };
}

function toEvent(row: EventRow) {
  return {
    id: row.id,
    eventId: row.eventId,
    type: row.type,
    payload: row.payload,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * The wflo API as one Hono app, used by the API Lambda (API Gateway proxy) and by the local HTTP server.
 * Bad input gets a 4xx `application/problem+json` naming the field, and nothing is written.
 */
export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono({
    // Hono's default (SmartRouter → RegExpRouter) compiles every route into one regular expression on the
    // first request, which a Lambda pays at each cold start; LinearRouter registers and matches without
    // that step (Hono's choice for an app built per process), and a few dozen routes match as fast.
    router: new LinearRouter(),
    defaultHook: (result, c) => {
      if (!result.success) {
        const errors = result.error.issues.map((i) => ({
          field: i.path.length ? i.path.join('.') : `(${result.target})`,
          message: i.message,
        }));
        const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
        return c.json(problem(400, 'Invalid request', detail, errors), 400, {
          'content-type': 'application/problem+json',
        });
      }
    },
  });

  // The routes validate with stand-ins that build their request schemas on first use; the document reads the
  // built schemas (schemas.ts). Every route, app.openapi's and those registered directly, goes through here.
  const registerPath = app.openAPIRegistry.registerPath.bind(app.openAPIRegistry);
  app.openAPIRegistry.registerPath = (route) => registerPath(documentedRoute(route));

  app.use('*', apiSecurityHeaders());

  app.onError((err, c) => {
    const send = (status: ContentfulStatusCode, title: string) =>
      c.json(problem(status, title, err.message), status, { 'content-type': 'application/problem+json' });
    if (err instanceof NotFoundError) return send(404, 'Not found');
    if (err instanceof ConflictError) return send(409, 'Conflict');
    if (err instanceof PayloadTooLargeError) return send(413, 'Payload too large');
    if (err instanceof ApprovalExpiredError) return send(409, 'Approval expired');
    if (err instanceof ForbiddenError) return send(403, 'Forbidden');
    if (err instanceof UnauthenticatedError) return send(401, 'Unauthenticated');
    if (err instanceof ServiceUnavailableError) return send(503, 'Service unavailable');
    if (err instanceof StoreUnavailableError) {
      // A passing store fault (connection lost, restart, throttling): the caller may retry. The message names
      // the store operation and the driver's code only, never SQL text or parameters.
      console.warn('store unavailable', { operation: err.message, code: err.code });
      return c.json(problem(503, 'Service unavailable', 'the store is unavailable; retry shortly'), 503, {
        'content-type': 'application/problem+json',
        'retry-after': '1',
      });
    }
    if (err instanceof TaskCallbackError) {
      // The engine no longer has the task (run ended, token used) → gone; a token it cannot read → conflict.
      return err.reason === 'InvalidToken' ? send(409, 'Conflict') : send(410, 'Task gone');
    }
    if (err instanceof ValidationError) {
      const errors = err.issues.map((issue) => {
        const at = issue.indexOf(': ');
        return at < 0
          ? { field: '(body)', message: issue }
          : { field: issue.slice(0, at), message: issue.slice(at + 2) };
      });
      return c.json(problem(400, 'Invalid request', err.message, errors.length ? errors : undefined), 400, {
        'content-type': 'application/problem+json',
      });
    }
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      if (status === 400 && /JSON/i.test(err.message)) {
        return c.json(
          problem(400, 'Invalid request', `body: malformed JSON (${err.message})`, [
            { field: 'body', message: 'malformed JSON' },
          ]),
          400,
          {
            'content-type': 'application/problem+json',
          },
        );
      }
      return send(status, err.message || 'HTTP error');
    }
    console.error('unhandled API error', err);
    return c.json(problem(500, 'Internal error', 'the request failed; see the server log'), 500, {
      'content-type': 'application/problem+json',
    });
  });

  app.notFound((c) =>
    c.json(problem(404, 'Not found', `no route for ${c.req.method} ${c.req.path}`), 404, {
      'content-type': 'application/problem+json',
    }),
  );

  const view = (row: ExecutionRow) => toExecution(row, deps.engine.consoleUrl(row.workflow, row.id));

  const requireExecution = async (id: string) => {
    const row = await deps.store.getExecution(id);
    if (!row) throw new NotFoundError(`execution '${id}' does not exist`);
    return row;
  };

  // A NUL byte cannot be stored in a PostgreSQL text column; refused here as a bad request, not a 500 from the store.
  app.use('*', async (c, next) => {
    const url = c.req.url;
    if (url.includes('\u0000') || /%00/i.test(url)) {
      return c.json(
        problem(400, 'Invalid request', 'the path or query contains a NUL byte (%00)', [
          { field: 'url', message: 'contains a NUL byte' },
        ]),
        400,
        { 'content-type': 'application/problem+json' },
      );
    }
    await next();
  });

  // The request envelope may exceed the input a little (budget, key); the input itself is checked exactly.
  app.use(
    '/workflows/:name/executions',
    bodyLimit({
      maxSize: MAX_INPUT_BYTES + 16 * 1024,
      onError: (c) =>
        c.json(
          problem(413, 'Payload too large', `request body exceeds ${MAX_INPUT_BYTES + 16 * 1024} bytes`),
          413,
          {
            'content-type': 'application/problem+json',
          },
        ),
    }),
  );

  app.openapi(routes.health, async (c) => c.json({ status: 'ok' as const, store: deps.store.kind }, 200));

  app.openapi(routes.listWorkflows, async (c) =>
    c.json(
      {
        items: (await deps.engine.listWorkflows()).map((w) => ({ ...w, inputSchema: w.inputSchema ?? null })),
      },
      200,
    ),
  );

  app.openapi(routes.startExecution, async (c) => {
    const { name } = c.req.valid('param');
    const body = c.req.valid('json');
    const { execution, created } = await startExecution(deps, {
      workflow: name,
      input: body.input,
      budgetMicros: body.budgetUsd === undefined ? null : usdToMicros(body.budgetUsd),
      idempotencyKey: body.idempotencyKey ?? null,
    });
    c.header('location', `/executions/${execution.id}`);
    return created ? c.json(view(execution), 201) : c.json(view(execution), 200);
  });

  app.openapi(routes.listExecutions, async (c) => {
    const q = c.req.valid('query');
    const page = await deps.store.listExecutions(q);
    return c.json({ items: page.items.map(view), nextCursor: page.nextCursor ?? null }, 200);
  });

  app.openapi(routes.getExecution, async (c) =>
    c.json(view(await requireExecution(c.req.valid('param').id)), 200),
  );

  app.openapi(routes.cancelExecution, async (c) =>
    c.json(view(await cancelExecution(deps, c.req.valid('param').id)), 200),
  );

  app.openapi(routes.redriveExecution, async (c) => {
    const { execution, savedMicros } = await redriveExecution(deps, c.req.valid('param').id);
    return c.json(
      {
        ...view(execution),
        redrive: { redriveCount: execution.redriveCount, savedUsd: microsToUsd(savedMicros), savedMicros },
      },
      200,
    );
  });

  app.openapi(routes.listSteps, async (c) => {
    const { id } = c.req.valid('param');
    await requireExecution(id);
    return c.json({ items: (await deps.store.listSteps(id)).map(toStep) }, 200);
  });

  app.openapi(routes.getCosts, async (c) => {
    const { id } = c.req.valid('param');
    const execution = await requireExecution(id);
    const entries = await deps.store.listCosts(id);
    const summary = summarizeCosts(entries);
    return c.json(
      {
        executionId: id,
        totalMicros: summary.totalMicros,
        totalUsd: microsToUsd(summary.totalMicros),
        savedMicros: summary.savedMicros,
        overrunMicros: execution.overrunMicros,
        byKind: summary.byKind,
        byModel: summary.byModel,
        byStep: summary.byStep,
        entries: entries.map(toCostEntry),
      },
      200,
    );
  });

  app.openapi(routes.listEvents, async (c) => {
    const { id } = c.req.valid('param');
    const { after, limit } = c.req.valid('query');
    await requireExecution(id);
    const rows = await deps.store.listEvents(id, after, limit);
    return c.json({ items: rows.map(toEvent), lastId: rows.at(-1)?.id ?? after }, 200);
  });

  registerApprovalRoutes(app, () => deps.approvals);
  const streams = registerStreamRoutes(app, deps);
  registerWorkflowStreamRoute(app, { store: deps.store, engine: deps.engine, ...streams });
  registerTaskTokenRoutes(app, () => deps.taskTokens);

  app.doc31('/openapi.json', OPENAPI_INFO);

  return app;
}

const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'wflo API',
    version: '0.1.0',
    description: 'Start durable AI-agent workflows and inspect their steps, costs and events.',
  },
} as const;

/**
 * The OpenAPI 3.1 document of the API, generated from the routes' zod schemas (what `GET /openapi.json`
 * serves), for docs/openapi.json. Rendering it calls no route, so the app is built without a store or engine.
 */
export function openApiDocument() {
  const unavailable = new Proxy(
    {},
    {
      get: () => {
        throw new Error('openApiDocument() renders routes only; no store or engine is available');
      },
    },
  );
  return createApp({
    store: unavailable as Store,
    engine: unavailable as WorkflowEngine,
  }).getOpenAPI31Document(OPENAPI_INFO);
}

export type WfloApp = ReturnType<typeof createApp>;
