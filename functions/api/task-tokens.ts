import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ServiceUnavailableError, TaskCallbackError } from '#shared/errors';
import {
  MAX_TASK_CAUSE_CHARS,
  MAX_TASK_ERROR_CHARS,
  MAX_TASK_OUTPUT_BYTES,
  type TaskTokenCallbacks,
  taskOutputJson,
} from '#shared/ports/task-callbacks';
import { json, problemResponse as problem } from './routes.ts';
import { once, requestSchema } from './schemas.ts';

/*
 * SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat over HTTP, for `.waitForTaskToken` Tasks: the
 * embedded engine's task-token hub locally, Step Functions on AWS. The token goes in the path
 * (`/task-tokens/{token}/success`, URL-encoded) or, the robust form, in the body (`/task-tokens/success` with
 * `taskToken`): Step Functions tokens contain `/`, `+` and `=`, and a `%2F` in a path does not survive every
 * proxy (API Gateway hands the Lambda a decoded path), so the CLI sends the body form.
 */

/** Step Functions' own limit on a task token's length. */
const MAX_TOKEN_CHARS = 2048;

const tokenSchema = () => z.string().min(1).max(MAX_TOKEN_CHARS);

const TokenParamSchema = requestSchema(() =>
  z.object({
    token: tokenSchema().openapi({
      param: { name: 'token', in: 'path' },
      description: 'The task token ($$.Task.Token), URL-encoded',
      example: 'WyJleGVjLTEiLCJBc2sjMSIsMF0.q8Yp3bW1o6wC0mJ1rN6cSg',
    }),
  }),
);

const successBody = once(() =>
  z
    .object({
      output: z
        .unknown()
        .refine((v) => v !== undefined, 'required: the JSON the waiting Task returns')
        .openapi({ description: 'Any JSON value, at most 256 KiB', example: { approved: true } }),
    })
    .strict()
    .openapi('TaskSuccess'),
);
const failureBody = once(() =>
  z
    .object({
      error: z.string().max(MAX_TASK_ERROR_CHARS).optional().openapi({ example: 'Rejected' }),
      cause: z.string().max(MAX_TASK_CAUSE_CHARS).optional().openapi({ example: 'the reviewer said no' }),
    })
    .strict()
    .openapi('TaskFailure'),
);
const heartbeatBody = once(() => z.object({}).strict());

export const TaskSuccessBodySchema = requestSchema(successBody);
export const TaskFailureBodySchema = requestSchema(failureBody);

// A response schema: built when the OpenAPI document is (see schemas.ts).
const acceptedSchema = once(() =>
  z.object({ accepted: z.enum(['success', 'failure', 'heartbeat']) }).openapi('TaskTokenAccepted'),
);

const refusals = {
  400: problem(
    'InvalidToken (the token is malformed), InvalidOutput (output not JSON or over 256 KiB), or a malformed body; nothing changed',
  ),
  404: problem('TaskDoesNotExist: no waiting Task has this token; nothing changed'),
  410: problem(
    'TaskTimedOut: the Task is closed (answered already, timed out, no heartbeat in time, or its run ended); nothing changed',
  ),
  503: problem('This API has no engine that takes task callbacks'),
};

type Action = 'success' | 'failure' | 'heartbeat';
const SUMMARY: Record<Action, string> = {
  success: 'SendTaskSuccess: the waiting Task returns `output`',
  failure: 'SendTaskFailure: the waiting Task fails with `error` and `cause`',
  heartbeat: 'SendTaskHeartbeat: the waiting Task’s HeartbeatSeconds clock starts again',
};
/** Each action's body, built on first use; the body forms add the token to it. */
const BODY = { success: successBody, failure: failureBody, heartbeat: heartbeatBody } as const;
/** The path forms' bodies, as request schemas. */
const PATH_BODY = { success: TaskSuccessBodySchema, failure: TaskFailureBodySchema } as const;

const pathRoute = <A extends 'success' | 'failure'>(action: A) =>
  createRoute({
    method: 'post',
    path: `/task-tokens/{token}/${action}`,
    tags: ['task tokens'],
    summary: SUMMARY[action],
    request: {
      params: TokenParamSchema,
      body: {
        content: { 'application/json': { schema: PATH_BODY[action] as (typeof PATH_BODY)[A] } },
        required: true,
      },
    },
    responses: { 200: json(acceptedSchema, 'Accepted'), ...refusals },
  });

// A heartbeat needs no body: whatever comes (an empty one with a JSON content type) is not read.
const heartbeatPathRoute = createRoute({
  method: 'post',
  path: '/task-tokens/{token}/heartbeat',
  tags: ['task tokens'],
  summary: SUMMARY.heartbeat,
  request: { params: TokenParamSchema },
  responses: { 200: json(acceptedSchema, 'Accepted'), ...refusals },
});

const bodyRoute = <A extends Action>(action: A) =>
  createRoute({
    method: 'post',
    path: `/task-tokens/${action}`,
    tags: ['task tokens'],
    summary: `${SUMMARY[action]} (the token in the body)`,
    request: {
      body: {
        content: {
          'application/json': {
            schema: requestSchema(() =>
              (BODY[action]() as z.ZodObject<z.ZodRawShape>)
                .extend({
                  taskToken: tokenSchema().openapi({ description: 'The task token ($$.Task.Token)' }),
                })
                .strict(),
            ),
          },
        },
        required: true,
      },
    },
    responses: { 200: json(acceptedSchema, 'Accepted'), ...refusals },
  });

export const taskTokenRoutes = {
  success: pathRoute('success'),
  failure: pathRoute('failure'),
  heartbeat: heartbeatPathRoute,
  successByBody: bodyRoute('success'),
  failureByBody: bodyRoute('failure'),
  heartbeatByBody: bodyRoute('heartbeat'),
};

const STATUS = {
  InvalidToken: 400,
  InvalidOutput: 400,
  TaskDoesNotExist: 404,
  TaskTimedOut: 410,
} as const satisfies Record<TaskCallbackError['reason'], number>;

/** The problem document of a refused callback: its title is the Step Functions error name. */
function refusal(err: TaskCallbackError) {
  const status = STATUS[err.reason];
  const slug = err.reason.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  return {
    status,
    body: {
      type: `https://wflo.dev/problems/${slug}`,
      title: err.reason,
      status,
      detail: `${err.reason}: ${err.message}`,
    },
  };
}

const PROBLEM = { 'content-type': 'application/problem+json' } as const;

/** The input of one callback, whichever form (path or body) carried the token. */
type Call =
  | { action: 'success'; token: string; output: unknown }
  | { action: 'failure'; token: string; error?: string | undefined; cause?: string | undefined }
  | { action: 'heartbeat'; token: string };

async function send(callbacks: TaskTokenCallbacks, call: Call): Promise<void> {
  switch (call.action) {
    case 'success': {
      // Checked here too, so both engines refuse the same outputs the same way (and no request is made).
      if (taskOutputJson(call.output) === null) {
        throw new TaskCallbackError(
          'InvalidOutput',
          `the output is not JSON or exceeds ${MAX_TASK_OUTPUT_BYTES} bytes`,
        );
      }
      return callbacks.sendTaskSuccess(call.token, call.output);
    }
    case 'failure':
      // Step Functions' defaults when SendTaskFailure names no error or cause.
      return callbacks.sendTaskFailure(call.token, call.error ?? '', call.cause ?? '');
    case 'heartbeat':
      return callbacks.sendTaskHeartbeat(call.token);
  }
}

/**
 * Adds `POST /task-tokens/{token}/success|failure|heartbeat` and their body forms (`/task-tokens/success`, …
 * with `taskToken`) to the API app. A refusal answers with the Step Functions error name as the problem's
 * title (400 InvalidToken/InvalidOutput, 404 TaskDoesNotExist, 410 TaskTimedOut) and changes nothing.
 */
export function registerTaskTokenRoutes<E extends Env>(
  app: OpenAPIHono<E>,
  deps: () => TaskTokenCallbacks | undefined,
): void {
  // The output's limit plus room for the envelope; a bigger body is an output over the limit.
  app.use(
    '/task-tokens/*',
    bodyLimit({
      maxSize: MAX_TASK_OUTPUT_BYTES + MAX_TOKEN_CHARS + 1024,
      onError: (c) => {
        const r = refusal(
          new TaskCallbackError(
            'InvalidOutput',
            `the request exceeds the ${MAX_TASK_OUTPUT_BYTES}-byte output limit`,
          ),
        );
        return c.json(r.body, r.status, PROBLEM);
      },
    }),
  );
  /** Sends the callback; the refusal to answer with, or undefined when the engine took it. */
  const attempt = async (call: Call) => {
    const callbacks = deps();
    if (!callbacks) throw new ServiceUnavailableError('this runtime cannot answer task tokens');
    try {
      await send(callbacks, call);
      return undefined;
    } catch (err) {
      if (err instanceof TaskCallbackError) return refusal(err);
      throw err;
    }
  };
  const r = taskTokenRoutes;
  app.openapi(r.success, async (c) => {
    const call = { token: c.req.valid('param').token, output: c.req.valid('json').output };
    const refused = await attempt({ action: 'success', ...call });
    return refused
      ? c.json(refused.body, refused.status, PROBLEM)
      : c.json({ accepted: 'success' as const }, 200);
  });
  app.openapi(r.failure, async (c) => {
    const { error, cause } = c.req.valid('json');
    const refused = await attempt({ action: 'failure', token: c.req.valid('param').token, error, cause });
    return refused
      ? c.json(refused.body, refused.status, PROBLEM)
      : c.json({ accepted: 'failure' as const }, 200);
  });
  app.openapi(r.heartbeat, async (c) => {
    const refused = await attempt({ action: 'heartbeat', token: c.req.valid('param').token });
    return refused
      ? c.json(refused.body, refused.status, PROBLEM)
      : c.json({ accepted: 'heartbeat' as const }, 200);
  });
  app.openapi(r.successByBody, async (c) => {
    const body = c.req.valid('json') as { taskToken: string; output: unknown };
    const refused = await attempt({ action: 'success', token: body.taskToken, output: body.output });
    return refused
      ? c.json(refused.body, refused.status, PROBLEM)
      : c.json({ accepted: 'success' as const }, 200);
  });
  app.openapi(r.failureByBody, async (c) => {
    const { taskToken, ...rest } = c.req.valid('json') as {
      taskToken: string;
      error?: string;
      cause?: string;
    };
    const refused = await attempt({ action: 'failure', token: taskToken, ...rest });
    return refused
      ? c.json(refused.body, refused.status, PROBLEM)
      : c.json({ accepted: 'failure' as const }, 200);
  });
  app.openapi(r.heartbeatByBody, async (c) => {
    const body = c.req.valid('json') as { taskToken: string };
    const refused = await attempt({ action: 'heartbeat', token: body.taskToken });
    return refused
      ? c.json(refused.body, refused.status, PROBLEM)
      : c.json({ accepted: 'heartbeat' as const }, 200);
  });
}
