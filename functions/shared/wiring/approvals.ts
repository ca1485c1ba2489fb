import { storeApprovals } from '../approvals/store-approvals.ts';
import type { ApprovalStore } from '../ports/approvals.ts';
import { lazyPart } from './lazy.ts';
import { getLambdaDb } from './store.ts';

/**
 * The process's approvals: the store's table (Aurora on Lambda), or the installed runtime's. The SNS notifier
 * is in ./approval-notifier.ts, so that the API, which only reads and decides, does not load the SNS client.
 */
export const getApprovals: () => Promise<ApprovalStore> = lazyPart(
  (rt) => rt.approvals,
  async () => storeApprovals((await getLambdaDb()).db),
);
