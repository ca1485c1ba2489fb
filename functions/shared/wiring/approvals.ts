import { createApprovals } from '../approvals/create-approvals.ts';
import type { ApprovalStore } from '../ports/approvals.ts';
import { getConfig } from './config.ts';
import { lazyPart } from './lazy.ts';
import { getLambdaDb } from './store.ts';

/**
 * The process's approvals: the DynamoDB table with its Aurora audit copy on Lambda (APPROVALS_TABLE), the
 * store's table without one, or the installed runtime's. The SNS notifier is in ./approval-notifier.ts, so
 * that the API, which only reads and decides, does not load the SNS client.
 */
export const getApprovals: () => Promise<ApprovalStore> = lazyPart(
  (rt) => rt.approvals,
  async () => createApprovals(await getConfig(), (await getLambdaDb()).db),
);
