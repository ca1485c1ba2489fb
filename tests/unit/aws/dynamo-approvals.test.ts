import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApprovals } from '#shared/approvals/create-approvals';
import { dynamoApprovals } from '#shared/approvals/dynamo-approvals';
import { APPROVAL_RECORD_RETENTION_SECONDS } from '#shared/approvals/dynamo-layout';
import { loadConfig } from '#shared/config';
import type { WfloDb } from '#shared/db/connection';
import type { ApprovalStore, NewApproval } from '#shared/ports/approvals';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const NOW = new Date('2026-11-29T12:00:00.000Z');
const TABLE = 'wflo-dev-approvals';

/** The audit copy's side: records which changes reached it (the real one is the store adapter). */
function recordingAudit() {
  const calls: string[] = [];
  const audit: ApprovalStore = {
    request: async (a) => {
      calls.push(`request:${a.id}`);
      return { approval: {} as never, created: true };
    },
    get: async () => undefined,
    list: async () => [],
    recordDecision: async ({ id }) => {
      calls.push(`decision:${id}`);
      return undefined;
    },
    expireDue: async () => {
      calls.push('expireDue');
      return [];
    },
    markExpired: async (id) => {
      calls.push(`expired:${id}`);
      return undefined;
    },
  };
  return { audit, calls };
}

const refusal = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const storedItem = (status = 'pending') => ({
  approvalId: 'apr-1',
  executionId: 'e-1',
  stateName: 'AskReviewer',
  status,
  prompt: { title: 'Ship it?' },
  approvers: { principals: [], roles: ['reviewer'] },
  taskToken: 'tok',
  entryKey: 'k',
  createdAt: NOW.getTime(),
  expiresAt: NOW.getTime() + 60_000,
  ttl: 1,
});

describe('Adapter: dynamoApprovals', () => {
  let audit: ReturnType<typeof recordingAudit>;
  const adapter = () => dynamoApprovals({ client, tableName: TABLE, audit: audit.audit, now: () => NOW });
  beforeEach(() => {
    audit = recordingAudit();
  });
  afterEach(() => {
    ddb.reset();
  });

  it('creates the record only when absent, with a TTL a retention past the expiry, then writes the audit copy', async () => {
    // Prepare
    ddb.on(PutCommand).resolves({});
    ddb.on(GetCommand).resolves({ Item: storedItem() });
    const expiresAt = new Date(NOW.getTime() + 60_000);
    const input: NewApproval = {
      id: 'apr-1',
      executionId: 'e-1',
      stateName: 'AskReviewer',
      entryKey: 'k',
      prompt: { title: 'Ship it?' },
      approvers: { principals: [], roles: ['reviewer'] },
      taskToken: 'tok',
      expiresAt,
    };
    // Act
    const out = await adapter().request(input);
    // Assess
    const put = ddb.commandCalls(PutCommand)[0]!.args[0].input;
    expect(put.ConditionExpression).toBe('attribute_not_exists(approvalId)');
    expect(put.Item).toMatchObject({
      approvalId: 'apr-1',
      status: 'pending',
      expiresAt: expiresAt.getTime(),
      ttl: Math.ceil(expiresAt.getTime() / 1000) + APPROVAL_RECORD_RETENTION_SECONDS,
    });
    expect(audit.calls).toEqual(['request:apr-1']);
    expect(out).toMatchObject({ created: true, approval: { id: 'apr-1', status: 'pending' } });
  });

  it('a retried request updates the token only while pending (conditional), and is not a new request', async () => {
    // Prepare
    ddb.on(PutCommand).rejects(refusal());
    ddb.on(UpdateCommand).resolves({ Attributes: storedItem() });
    ddb.on(GetCommand).resolves({ Item: storedItem() });
    audit.audit.request = async () => ({ approval: {} as never, created: false });
    // Act
    const out = await adapter().request({
      id: 'apr-1',
      executionId: 'e-1',
      stateName: 'AskReviewer',
      entryKey: 'k',
      prompt: { title: 'Ship it?' },
      approvers: { principals: ['alice'], roles: [] },
      taskToken: 'tok-2',
      expiresAt: new Date(NOW.getTime() + 60_000),
    });
    // Assess
    const update = ddb.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(update.ConditionExpression).toBe('attribute_exists(approvalId) AND #status = :pending');
    expect(update.ExpressionAttributeValues).toMatchObject({ ':taskToken': 'tok-2', ':pending': 'pending' });
    expect(out.created).toBe(false);
  });

  it('records a decision with one conditional write (pending and not yet expired by its clock), then audits it', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({ Attributes: { ...storedItem('approved'), decidedBy: 'alice' } });
    // Act
    const row = await adapter().recordDecision({
      id: 'apr-1',
      decision: { decision: 'approve', comment: null },
      decidedBy: 'alice',
    });
    // Assess
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input).toMatchObject({
      TableName: TABLE,
      Key: { approvalId: 'apr-1' },
      ConditionExpression: 'attribute_exists(approvalId) AND #status = :pending AND expiresAt > :now',
    });
    const values = ddb.commandCalls(UpdateCommand)[0]!.args[0].input.ExpressionAttributeValues!;
    expect(values[':now']).toBe(NOW.getTime());
    expect(values[':status']).toBe('approved');
    expect(values[':ttl']).toBe(NOW.getTime() / 1000 + APPROVAL_RECORD_RETENTION_SECONDS);
    expect(row?.status).toBe('approved');
    expect(audit.calls).toEqual(['decision:apr-1']);
  });

  it('a refused decision (decided, or expired) returns undefined and never reaches the audit copy', async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(refusal());
    // Act
    const row = await adapter().recordDecision({
      id: 'apr-1',
      decision: { decision: 'reject', comment: 'no' },
      decidedBy: 'alice',
    });
    // Assess
    expect(row).toBeUndefined();
    expect(audit.calls).toEqual([]);
  });

  it('any other DynamoDB failure is thrown, not taken for a refusal', async () => {
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));
    await expect(
      adapter().recordDecision({
        id: 'apr-1',
        decision: { decision: 'approve', comment: null },
        decidedBy: 'a',
      }),
    ).rejects.toThrow(/ProvisionedThroughput/);
    expect(audit.calls).toEqual([]);
  });

  it('the sweep queries pending by expiry at its clock, expires each conditionally, and audits only those it won', async () => {
    // Prepare: two due, over two pages; the second was decided meanwhile (refused)
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ approvalId: 'apr-1' }], LastEvaluatedKey: { approvalId: 'apr-1' } })
      .resolvesOnce({ Items: [{ approvalId: 'apr-2' }] });
    ddb
      .on(UpdateCommand, { Key: { approvalId: 'apr-1' } })
      .resolves({ Attributes: storedItem('expired') })
      .on(UpdateCommand, { Key: { approvalId: 'apr-2' } })
      .rejects(refusal());
    const at = new Date(NOW.getTime() + 3_600_000);
    // Act
    const expired = await adapter().expireDue(at);
    // Assess
    const query = ddb.commandCalls(QueryCommand)[0]!.args[0].input;
    expect(query).toMatchObject({
      IndexName: 'byStatusExpiry',
      KeyConditionExpression: '#status = :pending AND expiresAt <= :now',
      ExpressionAttributeValues: { ':pending': 'pending', ':now': at.getTime() },
    });
    expect(ddb.commandCalls(QueryCommand)[1]!.args[0].input.ExclusiveStartKey).toEqual({
      approvalId: 'apr-1',
    });
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input.ConditionExpression).toBe(
      'attribute_exists(approvalId) AND #status = :pending AND expiresAt <= :now',
    );
    expect(expired).toEqual(['apr-1']);
    expect(audit.calls).toEqual(['expired:apr-1', 'expireDue']);
  });
});

describe('Config: approvals target', () => {
  it('selects DynamoDB when APPROVALS_TABLE is set, the store otherwise, and refuses a bad table name', () => {
    expect(loadConfig({ APPROVALS_TABLE: 'wflo-dev-approvals' }).approvals.target).toEqual({
      kind: 'dynamodb',
      table: 'wflo-dev-approvals',
    });
    expect(loadConfig({}).approvals.target).toEqual({ kind: 'store' });
    expect(() => loadConfig({ APPROVALS_TABLE: 'a b' })).toThrow(
      /APPROVALS_TABLE: must be a DynamoDB table name/,
    );
  });
});

describe('Wiring: createApprovals with APPROVALS_TABLE', () => {
  afterEach(() => {
    ddb.reset();
  });

  it('sends through a document client it builds on the first call (lib-dynamodb imported then), to the table', async () => {
    // Prepare: the AWS config; the audit copy's database is never reached by a read
    ddb.on(GetCommand).resolves({ Item: storedItem() });
    const approvals = createApprovals(loadConfig({ APPROVALS_TABLE: TABLE }), {} as WfloDb);

    // Act
    const row = await approvals.get('apr-1');

    // Assess: the read went to DynamoDB through lib-dynamodb's GetCommand, the item came back as a row
    expect(ddb.commandCalls(GetCommand)).toHaveLength(1);
    expect(ddb.commandCalls(GetCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { approvalId: 'apr-1' },
      ConsistentRead: true,
    });
    expect(row).toMatchObject({ id: 'apr-1', executionId: 'e-1', status: 'pending' });
  });
});
