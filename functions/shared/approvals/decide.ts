import {
  ApprovalExpiredError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  TaskCallbackError,
} from '../errors.ts';
import type { ApprovalDecision, ApprovalRow, ApprovalStore, Approvers } from '../ports/approvals.ts';
import type { TaskCallbacks } from '../ports/task-callbacks.ts';

/** Who is deciding: a principal (an IAM ARN on AWS, the configured user embedded) and the roles it acts in. */
export interface Decider {
  readonly principal: string;
  readonly roles: readonly string[];
}

/**
 * The decider's principal and roles from an IAM caller ARN: an assumed role (`arn:aws:sts::<acct>:assumed-role/
 * <Role>/<session>`) acts as the role (its name and its IAM role ARN are both roles); an IAM user is itself.
 */
export function deciderFromArn(arn: string): Decider {
  const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  if (assumed) {
    const [, partition, account, role] = assumed;
    return { principal: arn, roles: [role!, `arn:${partition}:iam::${account}:role/${role}`] };
  }
  return { principal: arn, roles: [] };
}

/** Whether `decider` is one of the approvers (an exact principal, or any of its roles). */
export function mayDecide(approvers: Approvers, decider: Decider): boolean {
  return (
    approvers.principals.includes(decider.principal) || decider.roles.some((r) => approvers.roles.includes(r))
  );
}

/** The error that ends a waiting task whose approval was rejected (ASL Catch matches its name). */
export const APPROVAL_REJECTED = 'ApprovalRejectedError';

export interface DecideDeps {
  readonly approvals: ApprovalStore;
  readonly callbacks: TaskCallbacks;
  readonly now?: () => Date;
}

/**
 * Decides a pending approval: checks it exists (404), is still pending (409 naming who decided) and not
 * expired (409 with the expiry), and that the decider is an approver (403) — all before anything changes.
 * Then resumes the waiting task (SendTaskSuccess with the decision, or SendTaskFailure with
 * `ApprovalRejectedError`) and records the decision with `approval.decided`. The engine is told first: a
 * decision it refuses (the task timed out, the run ended) is never recorded as taken.
 */
export async function decideApproval(
  deps: DecideDeps,
  input: {
    id: string;
    decision: ApprovalDecision['decision'];
    comment?: string | undefined;
    decider: Decider;
  },
): Promise<ApprovalRow> {
  const now = deps.now?.() ?? new Date();
  const row = await deps.approvals.get(input.id);
  if (!row) throw new NotFoundError(`approval '${input.id}' does not exist`);
  if (row.status === 'expired' || (row.status === 'pending' && row.expiresAt && row.expiresAt <= now)) {
    // Expiry is recorded when it is first seen: the late decision is refused and the record says so.
    if (row.status === 'pending') await deps.approvals.markExpired(row.id);
    const at = row.expiresAt?.toISOString();
    throw new ApprovalExpiredError(`approval '${row.id}' expired at ${at}; no decision can be taken`, at);
  }
  if (row.status !== 'pending') {
    throw new ConflictError(
      `approval '${row.id}' was already ${row.status} by ${row.decidedBy ?? 'unknown'} at ${row.decidedAt?.toISOString()}`,
    );
  }
  if (!mayDecide(row.approvers as Approvers, input.decider)) {
    throw new ForbiddenError(`${input.decider.principal} is not among the approvers of '${row.id}'`);
  }
  const decision: ApprovalDecision = { decision: input.decision, comment: input.comment ?? null };
  const decidedAt = now.toISOString();
  try {
    if (decision.decision === 'approve') {
      await deps.callbacks.sendTaskSuccess(row.taskToken, {
        approvalId: row.id,
        decision: 'approve',
        comment: decision.comment,
        decidedBy: input.decider.principal,
        decidedAt,
      });
    } else {
      await deps.callbacks.sendTaskFailure(
        row.taskToken,
        APPROVAL_REJECTED,
        JSON.stringify({
          approvalId: row.id,
          comment: decision.comment,
          decidedBy: input.decider.principal,
          decidedAt,
        }),
      );
    }
  } catch (error) {
    if (error instanceof TaskCallbackError && error.reason === 'TaskTimedOut') {
      // The engine timed the task out before our sweep did: the record says so now.
      await deps.approvals.markExpired(row.id);
      const at = row.expiresAt?.toISOString();
      throw new ApprovalExpiredError(
        `approval '${row.id}' expired (its task timed out); no decision was taken`,
        at,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  const recorded = await deps.approvals.recordDecision({
    id: row.id,
    decision,
    decidedBy: input.decider.principal,
  });
  if (!recorded) {
    // Another decision was recorded between our read and our write; the engine took only one of them.
    const current = await deps.approvals.get(row.id);
    throw new ConflictError(
      `approval '${row.id}' was decided concurrently (${current?.status ?? 'unknown'})`,
    );
  }
  return recorded;
}
