import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { APPROVAL_STATUSES } from '../db/schema.ts';
import type { ApprovalRow, ApprovalStore } from '../ports/approvals.ts';
import { APPROVAL_RECORD_RETENTION_SECONDS, APPROVALS_TABLE } from './dynamo-layout.ts';

/**
 * lib-dynamodb's commands, imported on the adapter's first call: the API bundle carries this adapter for its
 * approval routes only, and loading lib-dynamodb (with util-dynamodb) cost each API cold start ~25 ms of CPU
 * (`npm run bench -- cold-start`). esbuild keeps a dynamic import of an external package as a runtime import.
 */
const commands = () => import('@aws-sdk/lib-dynamodb');

/** What the adapter needs: the document client, the table, and the Aurora store that keeps the audit copy. */
export interface DynamoApprovalsOptions {
  readonly client: Pick<DynamoDBDocumentClient, 'send'>;
  readonly tableName: string;
  /**
   * The audit copy (the store's `approvals` table, Aurora on AWS): each change DynamoDB accepted is written
   * there too, with its outbox event and the execution's status, by the store adapter's own statements.
   */
  readonly audit: ApprovalStore;
  /** The clock conditions are written against. @default the system clock */
  readonly now?: () => Date;
}

/** One approval as the table holds it (times as epoch milliseconds, `ttl` in epoch seconds). */
interface ApprovalItem {
  approvalId: string;
  executionId: string;
  stateName: string;
  status: ApprovalRow['status'];
  prompt: unknown;
  approvers: unknown;
  taskToken: string;
  entryKey: string | null;
  decision?: unknown;
  decidedBy?: string;
  createdAt: number;
  expiresAt: number;
  decidedAt?: number;
  ttl: number;
}

const PENDING = 'pending';
const seconds = (ms: number) => Math.ceil(ms / 1000);

function toRow(item: ApprovalItem): ApprovalRow {
  return {
    id: item.approvalId,
    executionId: item.executionId,
    stateName: item.stateName,
    status: item.status,
    prompt: item.prompt,
    approvers: item.approvers,
    taskToken: item.taskToken,
    entryKey: item.entryKey ?? null,
    decision: item.decision ?? null,
    decidedBy: item.decidedBy ?? null,
    createdAt: new Date(item.createdAt),
    expiresAt: new Date(item.expiresAt),
    decidedAt: item.decidedAt === undefined ? null : new Date(item.decidedAt),
  };
}

/** A write DynamoDB refused because its condition did not hold: the change is not this caller's to make. */
const refused = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error as { name?: unknown })?.name === 'ConditionalCheckFailedException';

/**
 * Approvals in the DynamoDB approvals table (AWS), with the audit copy in Aurora. DynamoDB is the record that
 * decides: every change is one conditional write, so a second decision, a decision after the expiry, or an
 * expiry of a decided approval is refused atomically by DynamoDB (`#status = pending AND expiresAt > now`),
 * whatever another caller did in between. Only a change DynamoDB accepted is then written to the audit copy,
 * whose statements are themselves conditional on `pending`: each `approval.*` event is written once.
 *
 * Each item carries a TTL (`ttl`, epoch seconds): a retention after its expiry, moved to a retention after its
 * decision or expiry once taken; DynamoDB then deletes it, and the Aurora copy stays as the history.
 */
export function dynamoApprovals(options: DynamoApprovalsOptions): ApprovalStore {
  const { client, tableName: TableName, audit } = options;
  const now = () => options.now?.() ?? new Date();
  const retention = APPROVAL_RECORD_RETENTION_SECONDS;

  const get = async (id: string) => {
    const { GetCommand } = await commands();
    const out = await client.send(
      new GetCommand({ TableName, Key: { [APPROVALS_TABLE.partitionKey]: id }, ConsistentRead: true }),
    );
    return out.Item ? toRow(out.Item as ApprovalItem) : undefined;
  };

  /** Sets the approval's terminal status when `condition` holds; the item after the change, or undefined. */
  const settle = async (
    id: string,
    set: Record<string, unknown>,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<ApprovalItem | undefined> => {
    const names: Record<string, string> = { '#status': 'status', '#ttl': APPROVALS_TABLE.ttlAttribute };
    const sets = ['#ttl = :ttl'];
    const vals: Record<string, unknown> = { ...values, ':pending': PENDING };
    for (const [k, v] of Object.entries(set)) {
      names[`#${k}`] = k;
      vals[`:${k}`] = v;
      sets.push(`#${k} = :${k}`);
    }
    const { UpdateCommand } = await commands();
    try {
      const out = await client.send(
        new UpdateCommand({
          TableName,
          Key: { [APPROVALS_TABLE.partitionKey]: id },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(${APPROVALS_TABLE.partitionKey}) AND #status = :pending${condition}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: vals,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as ApprovalItem;
    } catch (error) {
      if (refused(error)) return undefined;
      throw error;
    }
  };

  /** Pending approvals whose expiry is at or before `at`, from the (status, expiresAt) index. */
  const duePending = async (at: number): Promise<string[]> => {
    const { QueryCommand } = await commands();
    const ids: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await client.send(
        new QueryCommand({
          TableName,
          IndexName: APPROVALS_TABLE.byStatusExpiry,
          KeyConditionExpression: '#status = :pending AND expiresAt <= :now',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pending': PENDING, ':now': at },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) ids.push(String(item[APPROVALS_TABLE.partitionKey]));
      start = out.LastEvaluatedKey;
    } while (start);
    return ids;
  };

  const expire = async (id: string, condition: string, values: Record<string, unknown>) => {
    const t = now().getTime();
    const item = await settle(id, { status: 'expired', decidedAt: t }, condition, {
      ...values,
      ':ttl': seconds(t) + retention,
    });
    if (item) await audit.markExpired(id);
    return item;
  };

  return {
    async request(a) {
      const created = now().getTime();
      const item: ApprovalItem = {
        approvalId: a.id,
        executionId: a.executionId,
        stateName: a.stateName,
        status: PENDING,
        prompt: a.prompt,
        approvers: a.approvers,
        taskToken: a.taskToken,
        entryKey: a.entryKey,
        createdAt: created,
        expiresAt: a.expiresAt.getTime(),
        ttl: seconds(a.expiresAt.getTime()) + retention,
      };
      const { PutCommand } = await commands();
      let createdHere = true;
      try {
        await client.send(
          new PutCommand({
            TableName,
            Item: item,
            ConditionExpression: `attribute_not_exists(${APPROVALS_TABLE.partitionKey})`,
          }),
        );
      } catch (error) {
        if (!refused(error)) throw error;
        createdHere = false;
        // A retried request of the same entry: the newest token wins while the approval is still pending.
        await settle(a.id, { taskToken: a.taskToken }, '', { ':ttl': item.ttl });
      }
      // The audit copy (with approval.requested once, and waiting_approval); idempotent per entry key too.
      const audited = await audit.request(a);
      const approval = await get(a.id);
      if (!approval) throw new Error(`approval ${a.id} was neither written nor found`);
      return { approval, created: createdHere || audited.created };
    },

    get,

    async list(query) {
      const { QueryCommand } = await commands();
      const statuses = query.status ? [query.status] : APPROVAL_STATUSES;
      // One query per status on (status, createdAt), newest first, merged: no table scan.
      const pages = await Promise.all(
        statuses.map(async (status) => {
          const out = await client.send(
            new QueryCommand({
              TableName,
              IndexName: APPROVALS_TABLE.byStatusCreated,
              KeyConditionExpression: '#status = :status',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':status': status },
              ScanIndexForward: false,
              Limit: query.limit,
            }),
          );
          return (out.Items ?? []) as ApprovalItem[];
        }),
      );
      return pages
        .flat()
        .sort((x, y) => y.createdAt - x.createdAt || (x.approvalId < y.approvalId ? 1 : -1))
        .slice(0, query.limit)
        .map(toRow);
    },

    async recordDecision({ id, decision, decidedBy }) {
      const t = now().getTime();
      const item = await settle(
        id,
        {
          status: decision.decision === 'approve' ? 'approved' : 'rejected',
          decision,
          decidedBy,
          decidedAt: t,
        },
        // Refused atomically once the expiry has passed, even if no sweep has marked it yet.
        ' AND expiresAt > :now',
        { ':now': t, ':ttl': seconds(t) + retention },
      );
      if (!item) return undefined;
      await audit.recordDecision({ id, decision, decidedBy });
      return toRow(item);
    },

    async expireDue(at) {
      const t = (at ?? now()).getTime();
      const expired: string[] = [];
      for (const id of await duePending(t)) {
        if (await expire(id, ' AND expiresAt <= :now', { ':now': t })) expired.push(id);
      }
      // Audit rows still pending past their expiry (a DynamoDB change whose audit write failed) catch up.
      const caughtUp = await audit.expireDue(at);
      return [...new Set([...expired, ...caughtUp])];
    },

    async markExpired(id) {
      const item = await expire(id, '', {});
      return item ? toRow(item) : undefined;
    },
  };
}
