/*
 * The DynamoDB approvals table's layout: the contract between the CDK table (infra/stacks/data-stack.ts) and
 * the adapter (dynamo-approvals.ts). Imported by Lambda bundles and by infra: no dependencies.
 */

/** Attribute and index names of the approvals table. */
export const APPROVALS_TABLE = {
  /** Partition key: the approval id (one per state entry). */
  partitionKey: 'approvalId',
  /** Epoch seconds after which DynamoDB deletes the item (the Aurora audit copy stays). */
  ttlAttribute: 'ttl',
  /** GSI (status, createdAt): a status's approvals, newest first. */
  byStatusCreated: 'byStatusCreated',
  /** GSI (status, expiresAt): pending approvals past their expiry, for the sweeper. */
  byStatusExpiry: 'byStatusExpiry',
} as const;

/** How long a decided or expired record stays in DynamoDB before its TTL removes it (the audit copy stays). */
export const APPROVAL_RECORD_RETENTION_SECONDS = 7 * 86_400;
