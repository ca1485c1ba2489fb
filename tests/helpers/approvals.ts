import { requestApproval } from '#shared/activities/approval-request';
import type { ApprovalStore } from '#shared/ports/approvals';
import type { Store } from '#shared/ports/store';
import { entryKey, type StepInfo } from '#shared/step-context';

let n = 0;

/**
 * A running code-review-gate execution whose AskReviewer state requested an approval, as the activity does on
 * a Task entry (step row begun as stepTracking would). Returns the ids, the task token and the step.
 */
export async function requestTestApproval(
  deps: { store: Store; approvals: ApprovalStore },
  options: {
    approvers: { principals: string[]; roles: string[] };
    title?: string;
    timeoutSeconds?: number;
    now?: Date;
  },
) {
  const executionId = `code-review-gate-t${n++}-${Date.now()}`;
  const { store, approvals } = deps;
  await store.createExecution({ id: executionId, workflow: 'code-review-gate', input: {}, running: true });
  const row = await store.beginStep({
    executionId,
    stateName: 'AskReviewer',
    activity: 'approval-request',
    enteredAt: new Date().toISOString(),
    attempt: 0,
  });
  const base = {
    stepId: row.id,
    executionId,
    workflow: 'code-review-gate',
    stateName: 'AskReviewer',
    enteredTime: row.enteredAt,
    item: '',
    attempt: 0,
  };
  const step: StepInfo = { ...base, resultKey: `${entryKey(base)}/approval-request` };
  const token = `token-${executionId}`;
  const now = options.now;
  const out = await requestApproval({ store, approvals, ...(now ? { now: () => now } : {}) }, step, {
    context: {},
    taskToken: token,
    title: options.title ?? 'Apply the patch?',
    summary: 'tests pass',
    payload: { diff: '+1 line' },
    approvers: options.approvers,
    timeoutSeconds: options.timeoutSeconds ?? 3600,
  });
  return { executionId, approvalId: out.approvalId, token, step };
}
