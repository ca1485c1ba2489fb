import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, Env } from 'hono';
import { type Decider, decideApproval, deciderFromArn } from '#shared/approvals/decide';
import { APPROVAL_STATUSES } from '#shared/db/schema';
import { ServiceUnavailableError, UnauthenticatedError } from '#shared/errors';
import type { ApprovalRow, ApprovalStore } from '#shared/ports/approvals';
import type { TaskCallbacks } from '#shared/ports/task-callbacks';
import { json, problemResponse as problem } from './routes.ts';
import { once, requestSchema } from './schemas.ts';

/** What the approval routes need. */
export interface ApprovalApiDeps {
  readonly store: ApprovalStore;
  /**
   * Resumes the waiting task: Step Functions on AWS, the embedded engine locally. Without it (an embedded
   * runtime whose engine does not take callbacks yet) a decision answers 503 and changes nothing.
   */
  readonly callbacks?: TaskCallbacks | undefined;
  /** Who is asking, from the request (the IAM caller on AWS, the configured user embedded); undefined: 401. */
  readonly identify: (c: Context) => Decider | undefined;
}

/** An approval as the API returns it; built on first use (a response schema: see schemas.ts). */
export const approvalSchema = once(() =>
  z
    .object({
      approvalId: z.string(),
      executionId: z.string(),
      stateName: z.string(),
      status: z.enum(APPROVAL_STATUSES),
      title: z.string(),
      summary: z.string().nullable(),
      payload: z.unknown().nullable(),
      link: z.string().nullable(),
      approvers: z.object({ principals: z.array(z.string()), roles: z.array(z.string()) }),
      createdAt: z.string(),
      expiresAt: z.string().nullable(),
      decision: z.enum(['approve', 'reject']).nullable(),
      comment: z.string().nullable(),
      decidedBy: z.string().nullable(),
      decidedAt: z.string().nullable(),
    })
    .openapi('Approval'),
);
export type ApprovalSchema = ReturnType<typeof approvalSchema>;

export const DecisionBodySchema = requestSchema(() =>
  z
    .object({
      decision: z.enum(['approve', 'reject']).openapi({ example: 'approve' }),
      comment: z.string().max(4000).optional().openapi({ example: 'Looks good; tests pass.' }),
    })
    .strict()
    .openapi('ApprovalDecision'),
);

const ApprovalIdParamSchema = requestSchema(() =>
  z.object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,80}$/, 'must be an approval id')
      .openapi({ param: { name: 'id', in: 'path' }, example: 'apr-3f9a1c2b7d4e5f60718293a4' }),
  }),
);

export const approvalRoutes = {
  listApprovals: createRoute({
    method: 'get',
    path: '/approvals',
    tags: ['approvals'],
    request: {
      query: requestSchema(() =>
        z.object({
          status: z.enum(APPROVAL_STATUSES).optional().openapi({ example: 'pending' }),
          limit: z.coerce.number().int().min(1).max(200).default(50),
        }),
      ),
    },
    responses: {
      200: json(
        () => z.object({ items: z.array(approvalSchema()) }),
        'Newest first; expired ones are recorded as expired first',
      ),
      400: problem('Bad query'),
    },
  }),
  getApproval: createRoute({
    method: 'get',
    path: '/approvals/{id}',
    tags: ['approvals'],
    request: { params: ApprovalIdParamSchema },
    responses: { 200: json(approvalSchema, 'The approval'), 404: problem('No such approval') },
  }),
  decideApproval: createRoute({
    method: 'post',
    path: '/approvals/{id}/decision',
    tags: ['approvals'],
    request: {
      params: ApprovalIdParamSchema,
      body: { content: { 'application/json': { schema: DecisionBodySchema } }, required: true },
    },
    responses: {
      200: json(
        approvalSchema,
        'Decided: the waiting task resumed (approve) or failed with ApprovalRejectedError',
      ),
      400: problem('Malformed decision (the field is named)'),
      401: problem('The caller could not be identified'),
      403: problem('The caller is not among the approvers; nothing changed'),
      404: problem('No such approval'),
      409: problem('Already decided (by whom, when), or expired (the expiry time is named); nothing changed'),
      410: problem('The waiting task is gone (its execution ended); nothing changed'),
      503: problem('This runtime cannot resume waiting tasks'),
    },
  }),
};

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** An approval row as the API returns it (never its task token). */
export function toApproval(row: ApprovalRow): z.infer<ApprovalSchema> {
  const prompt = row.prompt as { title: string; summary?: string; payload?: unknown; link?: string };
  const approvers = row.approvers as { principals?: string[]; roles?: string[] };
  const decision = row.decision as { decision: 'approve' | 'reject'; comment: string | null } | null;
  return {
    approvalId: row.id,
    executionId: row.executionId,
    stateName: row.stateName,
    status: row.status,
    title: prompt.title,
    summary: prompt.summary ?? null,
    payload: prompt.payload ?? null,
    link: prompt.link ?? null,
    approvers: { principals: approvers.principals ?? [], roles: approvers.roles ?? [] },
    createdAt: row.createdAt.toISOString(),
    expiresAt: iso(row.expiresAt),
    decision: decision?.decision ?? null,
    comment: decision?.comment ?? null,
    decidedBy: row.decidedBy,
    decidedAt: iso(row.decidedAt),
  };
}

/**
 * Adds the approval routes to the API app. Reads first record any approval past its expiry as `expired`
 * (one statement, with `approval.expired`), so a list never shows a pending approval nobody can decide.
 */
export function registerApprovalRoutes<E extends Env>(
  app: OpenAPIHono<E>,
  deps: () => ApprovalApiDeps | undefined,
): void {
  const need = () => {
    const d = deps();
    if (!d) throw new ServiceUnavailableError('approvals are not configured on this API');
    return d;
  };
  app.openapi(approvalRoutes.listApprovals, async (c) => {
    const d = need();
    const q = c.req.valid('query');
    await d.store.expireDue();
    return c.json({ items: (await d.store.list(q)).map(toApproval) }, 200);
  });
  app.openapi(approvalRoutes.getApproval, async (c) => {
    const d = need();
    const { id } = c.req.valid('param');
    await d.store.expireDue();
    const row = await d.store.get(id);
    if (!row) return c.json(notFound(id), 404, { 'content-type': 'application/problem+json' });
    return c.json(toApproval(row), 200);
  });
  app.openapi(approvalRoutes.decideApproval, async (c) => {
    const d = need();
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const decider = d.identify(c as unknown as Context);
    if (!decider) throw new UnauthenticatedError('the caller could not be identified (no IAM principal)');
    if (!d.callbacks) throw new ServiceUnavailableError('this runtime cannot resume waiting tasks yet');
    const row = await decideApproval(
      { approvals: d.store, callbacks: d.callbacks },
      { id, decision: body.decision, comment: body.comment, decider },
    );
    return c.json(toApproval(row), 200);
  });
}

function notFound(id: string) {
  return {
    type: 'https://wflo.dev/problems/not-found',
    title: 'Not found',
    status: 404,
    detail: `approval '${id}' does not exist`,
  };
}

/**
 * The decider of an API Gateway (REST, IAM auth) request: the caller ARN API Gateway verified
 * (`requestContext.identity.userArn`), read from the Lambda event Hono's adapter keeps in `c.env.event`.
 */
export function iamDecider(c: Context): Decider | undefined {
  const env = c.env as
    | { event?: { requestContext?: { identity?: { userArn?: string | null } } } }
    | undefined;
  const arn = env?.event?.requestContext?.identity?.userArn;
  if (!arn) return undefined;
  return deciderFromArn(arn);
}
