import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { ApprovalRow, ApprovalStore } from '../ports/approvals.ts';
import type { Store } from '../ports/store.ts';
import type { StepInfo } from '../step-context.ts';
import { entryKey } from '../step-context.ts';

/** Longest wait for a decision: one year (Step Functions' own limit for a Standard execution). */
export const MAX_APPROVAL_SECONDS = 31_536_000;

export const ApprovalRequestInputSchema = z.object({
  context: z.unknown(),
  /** `$$.Task.Token` of the `.waitForTaskToken` Task this request belongs to. */
  taskToken: z.string().min(1).max(2048),
  title: z.string().min(1).max(200),
  summary: z.string().max(4000).optional(),
  /** What is to be approved (a diff, a plan, a result), shown to the decider. */
  payload: z.unknown().optional(),
  link: z.url().max(2048).optional(),
  approvers: z
    .object({
      principals: z.array(z.string().min(1).max(512)).max(50).default([]),
      roles: z.array(z.string().min(1).max(512)).max(50).default([]),
    })
    .refine((a) => a.principals.length + a.roles.length > 0, {
      message: 'name at least one principal or role who may decide',
    }),
  /** The Task's TimeoutSeconds, so the record expires when the Task does. */
  timeoutSeconds: z.number().int().min(1).max(MAX_APPROVAL_SECONDS),
});
export type ApprovalRequestInput = z.infer<typeof ApprovalRequestInputSchema>;

export interface ApprovalRequestDeps {
  readonly store: Store;
  readonly approvals: ApprovalStore;
  /** Announces a new request (SNS on AWS); absent locally, where the outbox event is the notification. */
  readonly notify?: ((approval: ApprovalRow) => Promise<void>) | undefined;
  readonly now?: () => Date;
}

/** The approval id of a state entry: the same for every retry of the entry, new for each re-entry. */
export function approvalId(step: StepInfo): string {
  return `apr-${createHash('sha256').update(entryKey(step)).digest('hex').slice(0, 24)}`;
}

/**
 * approval-request (a `.waitForTaskToken` Task): records the pending approval — who may decide, what is
 * asked, the task token, the expiry (now + the Task's TimeoutSeconds) — with `approval.requested`, and
 * announces it. The Task then waits until `POST /approvals/{id}/decision` resumes it or its timeout fails it
 * with `States.Timeout`. A retried invocation of the same entry updates the token and announces nothing twice.
 */
export async function requestApproval(
  deps: ApprovalRequestDeps,
  step: StepInfo,
  input: ApprovalRequestInput,
): Promise<{ approvalId: string; expiresAt: string; created: boolean }> {
  const now = deps.now?.() ?? new Date();
  const expiresAt = new Date(now.getTime() + input.timeoutSeconds * 1000);
  const { approval, created } = await deps.approvals.request({
    id: approvalId(step),
    executionId: step.executionId,
    stateName: step.stateName,
    entryKey: entryKey(step),
    prompt: {
      title: input.title,
      ...(input.summary === undefined ? {} : { summary: input.summary }),
      ...(input.payload === undefined ? {} : { payload: input.payload }),
      ...(input.link === undefined ? {} : { link: input.link }),
    },
    approvers: input.approvers,
    taskToken: input.taskToken,
    expiresAt,
  });
  if (created && deps.notify) await deps.notify(approval);
  return { approvalId: approval.id, expiresAt: (approval.expiresAt ?? expiresAt).toISOString(), created };
}
