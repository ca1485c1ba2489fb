import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decider } from '#shared/approvals/decide';
import { dynamoApprovals } from '#shared/approvals/dynamo-approvals';
import { APPROVAL_RECORD_RETENTION_SECONDS, APPROVALS_TABLE } from '#shared/approvals/dynamo-layout';
import { storeApprovals } from '#shared/approvals/store-approvals';
import type { DbConnection } from '#shared/db/connection';
import type { ApprovalStore } from '#shared/ports/approvals';
import type { WorkflowEngine } from '#shared/ports/engine';
import type { Store } from '#shared/ports/store';
import type { TaskCallbacks } from '#shared/ports/task-callbacks';
import { createStore } from '#shared/store/create-store';
import { createApp } from '../../functions/api/app.ts';
import { requestTestApproval } from '../helpers/approvals.ts';
import { openTestConnection } from '../helpers/database.ts';
import { createApprovalsTable, startDynalite } from '../helpers/dynalite.ts';

/*
 * The DynamoDB approvals adapter against a real DynamoDB wire API (dynalite, in-process on loopback), with the
 * audit copy in the store (PGlite here; PostgreSQL in the integration run): conditional writes refuse what the
 * record does not allow, and each approval.* event reaches the outbox once.
 */

let conn: DbConnection;
let store: Store;
let audit: ApprovalStore;
let approvals: ApprovalStore;
let ddb: Awaited<ReturnType<typeof startDynalite>>;
let drop: () => Promise<void>;
/** The adapter's clock: moved forward by the tests instead of waiting. */
let clock = Date.now();
const TABLE = 'wflo-test-approvals';

beforeAll(async () => {
  ({ conn, drop } = await openTestConnection());
  store = createStore(conn);
  audit = storeApprovals(conn.db);
  ddb = await startDynalite();
  await createApprovalsTable(ddb.raw, TABLE);
  approvals = dynamoApprovals({ client: ddb.client, tableName: TABLE, audit, now: () => new Date(clock) });
});
afterAll(async () => {
  await ddb?.close();
  await conn?.close();
  await drop?.();
});

const ALICE: Decider = { principal: 'alice', roles: ['reviewer'] };
const reviewers = { principals: [], roles: ['reviewer'] };

class RecordingCallbacks implements TaskCallbacks {
  readonly sent: string[] = [];
  async sendTaskSuccess(token: string) {
    this.sent.push(`success:${token}`);
  }
  async sendTaskFailure(token: string, error: string) {
    this.sent.push(`failure:${token}:${error}`);
  }
}

const app = (callbacks: TaskCallbacks) =>
  createApp({
    store,
    engine: {} as WorkflowEngine,
    approvals: { store: approvals, callbacks, identify: () => ALICE },
  });
const decide = (callbacks: TaskCallbacks, id: string, decision: 'approve' | 'reject') =>
  app(callbacks).request(`/approvals/${id}/decision`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ decision, comment: 'ok' }),
  });
const eventTypes = async (executionId: string) =>
  (await store.listEvents(executionId, 0, 100)).map((e) => e.type).filter((t) => t.startsWith('approval.'));
const item = async (id: string) =>
  (await ddb.client.send(new GetCommand({ TableName: TABLE, Key: { [APPROVALS_TABLE.partitionKey]: id } })))
    .Item;

describe('Approvals on DynamoDB (dynalite) with the audit copy in the store', () => {
  it('a request writes the record with a TTL after its expiry, and the audit copy with approval.requested once', async () => {
    // Prepare
    const requestedAt = new Date(clock);
    // Act: the same entry requested twice (a retried invocation)
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 600, now: requestedAt },
    );
    // Assess
    const record = await item(a.approvalId);
    const expiresAt = requestedAt.getTime() + 600_000;
    expect(record).toMatchObject({ status: 'pending', expiresAt, taskToken: a.token });
    expect(record?.ttl).toBe(Math.ceil(expiresAt / 1000) + APPROVAL_RECORD_RETENTION_SECONDS);
    expect((await audit.get(a.approvalId))?.status).toBe('pending');
    expect((await store.getExecution(a.executionId))?.status).toBe('waiting_approval');
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested']);
    expect((await approvals.list({ status: 'pending', limit: 50 })).map((r) => r.id)).toContain(a.approvalId);
  });

  it('a decision resumes the task and is recorded in both; a second decision gets 409 and changes nothing', async () => {
    // Prepare
    const a = await requestTestApproval({ store, approvals }, { approvers: reviewers, now: new Date(clock) });
    const callbacks = new RecordingCallbacks();
    // Act
    const first = await decide(callbacks, a.approvalId, 'approve');
    const second = await decide(callbacks, a.approvalId, 'reject');
    // Assess
    expect(first.status).toBe(200);
    expect(second.status).toBe(409);
    expect(callbacks.sent).toEqual([`success:${a.token}`]);
    expect(await item(a.approvalId)).toMatchObject({ status: 'approved', decidedBy: 'alice' });
    expect((await audit.get(a.approvalId))?.status).toBe('approved');
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested', 'approval.decided']);
  });

  it('two decisions racing on the record: DynamoDB accepts exactly one', async () => {
    // Prepare
    const a = await requestTestApproval({ store, approvals }, { approvers: reviewers, now: new Date(clock) });
    const decision = (d: 'approve' | 'reject') =>
      approvals.recordDecision({ id: a.approvalId, decision: { decision: d, comment: null }, decidedBy: d });
    // Act
    const results = await Promise.all([decision('approve'), decision('reject'), decision('approve')]);
    // Assess
    const won = results.filter((r) => r !== undefined);
    expect(won).toHaveLength(1);
    expect((await item(a.approvalId))?.status).toBe(won[0]!.status);
    expect((await audit.get(a.approvalId))?.status).toBe(won[0]!.status);
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested', 'approval.decided']);
  });

  it('past the expiry the conditional write refuses a decision even before any sweep ran', async () => {
    // Prepare: requested with a 60 s timeout, then the clock moves 61 s on
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 60, now: new Date(clock) },
    );
    clock += 61_000;
    // Act: straight at the adapter, as a decision that read the record just before the expiry would
    const late = await approvals.recordDecision({
      id: a.approvalId,
      decision: { decision: 'approve', comment: null },
      decidedBy: 'alice',
    });
    // Assess
    expect(late).toBeUndefined();
    expect((await item(a.approvalId))?.status).toBe('pending');
    expect((await audit.get(a.approvalId))?.status).toBe('pending');
  });

  it('the sweep expires what is due, once, with approval.expired once, and moves the TTL', async () => {
    // Prepare: one due (60 s, then 2 min pass), one not (1 h)
    const due = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 60, now: new Date(clock) },
    );
    const notDue = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 3600, now: new Date(clock) },
    );
    clock += 120_000;
    // Act: two sweeps racing, then a third, then the engine's TaskTimedOut for the same approval
    const [one, two] = await Promise.all([approvals.expireDue(), approvals.expireDue()]);
    const three = await approvals.expireDue();
    const marked = await approvals.markExpired(due.approvalId);
    // Assess
    expect([...one!, ...two!].filter((id) => id === due.approvalId)).toHaveLength(1);
    expect(three).not.toContain(due.approvalId);
    expect(marked).toBeUndefined();
    expect(await item(due.approvalId)).toMatchObject({
      status: 'expired',
      ttl: Math.ceil(clock / 1000) + APPROVAL_RECORD_RETENTION_SECONDS,
    });
    expect((await audit.get(due.approvalId))?.status).toBe('expired');
    expect(await eventTypes(due.executionId)).toEqual(['approval.requested', 'approval.expired']);
    expect((await item(notDue.approvalId))?.status).toBe('pending');
    expect(await eventTypes(notDue.executionId)).toEqual(['approval.requested']);
  });

  it('the engine timed the task out first: the record and its audit copy say expired, then the sweep finds nothing', async () => {
    // Prepare
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 30, now: new Date(clock) },
    );
    // Act
    const marked = await approvals.markExpired(a.approvalId);
    clock += 60_000;
    const swept = await approvals.expireDue();
    // Assess
    expect(marked?.status).toBe('expired');
    expect(swept).not.toContain(a.approvalId);
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested', 'approval.expired']);
  });

  it('lists every status newest first, merged from the per-status index', async () => {
    // Prepare: a fresh pair, the newer one decided
    clock += 1_000;
    const older = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, now: new Date(clock) },
    );
    clock += 1_000;
    const newer = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, now: new Date(clock) },
    );
    await approvals.recordDecision({
      id: newer.approvalId,
      decision: { decision: 'reject', comment: 'no' },
      decidedBy: 'alice',
    });
    // Act
    const all = await approvals.list({ limit: 2 });
    // Assess
    expect(all.map((r) => [r.id, r.status])).toEqual([
      [newer.approvalId, 'rejected'],
      [older.approvalId, 'pending'],
    ]);
  });
});
