import { sweepExpiredApprovals } from '#shared/approvals/sweep';
import { logger } from '#shared/observability';
import { getApprovals } from '#shared/wiring/approvals';

/**
 * Scheduled every minute (EventBridge): pending approvals past their expiry become `expired` with
 * `approval.expired`, in the DynamoDB table and its Aurora audit copy, even when the waiting Task's own
 * TimeoutSeconds already failed it. Uses the approvals table and the store.
 */
export const handler = async (): Promise<{ expired: readonly string[] }> => {
  const { expired } = await sweepExpiredApprovals(await getApprovals());
  if (expired.length > 0) logger.info('expired approvals', { count: expired.length, approvalIds: expired });
  return { expired };
};
