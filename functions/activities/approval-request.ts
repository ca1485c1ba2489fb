import { ApprovalRequestInputSchema, requestApproval } from '#shared/activities/approval-request';
import { activityHandler } from '#shared/middleware/activity';
import { getApprovalNotifier } from '#shared/wiring/approval-notifier';
import { getApprovals } from '#shared/wiring/approvals';
import { getStore } from '#shared/wiring/store';

/**
 * Lambda: approval-request, the `.waitForTaskToken` Task's function (see
 * functions/shared/activities/approval-request.ts). Uses the store (approvals, events) and, when configured,
 * the approvals SNS topic.
 */
export const handler = activityHandler(
  'approval-request',
  ApprovalRequestInputSchema,
  async () => ({
    store: await getStore(),
    approvals: await getApprovals(),
    notify: await getApprovalNotifier(),
  }),
  (deps, step, input) => requestApproval(deps, step, input),
);
