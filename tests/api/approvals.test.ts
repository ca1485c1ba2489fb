import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { approvalId, requestApproval } from '#shared/activities/approval-request';
import type { Decider } from '#shared/approvals/decide';
import { storeApprovals } from '#shared/approvals/store-approvals';
import type { DbConnection } from '#shared/db/connection';
import { TaskCallbackError } from '#shared/errors';
import type { ApprovalStore } from '#shared/ports/approvals';
import type { WorkflowEngine } from '#shared/ports/engine';
import type { Store } from '#shared/ports/store';
import type { TaskCallbacks } from '#shared/ports/task-callbacks';
import { createStore } from '#shared/store/create-store';
import { createApp } from '../../functions/api/app.ts';
import { requestTestApproval } from '../helpers/approvals.ts';
import { openTestConnection } from '../helpers/database.ts';

let conn: DbConnection;
let store: Store;
let approvals: ApprovalStore;
let drop: () => Promise<void>;

/** The engine side of a decision: records what it was sent, and refuses when told to (as the engine would). */
class RecordingCallbacks implements TaskCallbacks {
  readonly sent: {
    kind: 'success' | 'failure';
    token: string;
    output?: unknown;
    error?: string;
    cause?: string;
  }[] = [];
  refuseWith: TaskCallbackError['reason'] | undefined;
  async sendTaskSuccess(token: string, output: unknown) {
    if (this.refuseWith) throw new TaskCallbackError(this.refuseWith, `engine: ${this.refuseWith}`);
    this.sent.push({ kind: 'success', token, output });
  }
  async sendTaskFailure(token: string, error: string, cause: string) {
    if (this.refuseWith) throw new TaskCallbackError(this.refuseWith, `engine: ${this.refuseWith}`);
    this.sent.push({ kind: 'failure', token, error, cause });
  }
}

let callbacks: RecordingCallbacks;
let decider: Decider | undefined;
const ALICE: Decider = { principal: 'alice', roles: ['reviewer'] };
const MALLORY: Decider = { principal: 'mallory', roles: ['intern'] };

beforeAll(async () => {
  ({ conn, drop } = await openTestConnection());
  store = createStore(conn);
  approvals = storeApprovals(conn.db);
});
afterAll(async () => {
  await conn?.close();
  await drop?.();
});
beforeEach(() => {
  callbacks = new RecordingCallbacks();
  decider = ALICE;
});

const app = (withCallbacks = true) =>
  createApp({
    store,
    engine: {} as WorkflowEngine,
    approvals: {
      store: approvals,
      callbacks: withCallbacks ? callbacks : undefined,
      identify: () => decider,
    },
  });

/** A pending approval reviewers may decide, requested `now` (default: now). */
const pendingApproval = (timeoutSeconds = 3600, now?: Date) =>
  requestTestApproval(
    { store, approvals },
    { approvers: { principals: [], roles: ['reviewer'] }, timeoutSeconds, ...(now ? { now } : {}) },
  );

const decide = (id: string, body: unknown, withCallbacks = true) =>
  app(withCallbacks).request(`/approvals/${id}/decision`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const eventTypes = async (executionId: string) =>
  (await store.listEvents(executionId, 0, 100)).map((e) => e.type).filter((t) => t.startsWith('approval.'));

describe('Approvals: request (activity), list, read and decide (API)', () => {
  it('records a pending approval once per state entry, marks the run waiting_approval, and lists it without its token', async () => {
    // Prepare / Act
    const a = await pendingApproval();
    const again = await requestApproval({ store, approvals }, a.step, {
      context: {},
      taskToken: `${a.token}-retry`,
      title: 'Apply the patch?',
      approvers: { principals: [], roles: ['reviewer'] },
      timeoutSeconds: 3600,
    });
    const res = await app().request('/approvals?status=pending');
    const body = (await res.json()) as { items: Record<string, unknown>[] };
    // Assess
    expect(again).toMatchObject({ approvalId: a.approvalId, created: false });
    expect(a.approvalId).toBe(approvalId(a.step));
    expect(res.status).toBe(200);
    const item = body.items.find((i) => i.approvalId === a.approvalId);
    expect(item).toMatchObject({
      status: 'pending',
      title: 'Apply the patch?',
      payload: { diff: '+1 line' },
    });
    expect(JSON.stringify(body)).not.toContain('token-');
    expect((await store.getExecution(a.executionId))?.status).toBe('waiting_approval');
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested']);
    // The retry's token is the one a decision will use.
    expect((await approvals.get(a.approvalId))?.taskToken).toBe(`${a.token}-retry`);
  });

  it('approve by an approver resumes the task with the decision and records who decided', async () => {
    const a = await pendingApproval();
    const res = await decide(a.approvalId, { decision: 'approve', comment: 'ship it' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'approved', decidedBy: 'alice', comment: 'ship it' });
    expect(callbacks.sent).toEqual([
      {
        kind: 'success',
        token: a.token,
        output: expect.objectContaining({
          approvalId: a.approvalId,
          decision: 'approve',
          decidedBy: 'alice',
        }),
      },
    ]);
    expect((await store.getExecution(a.executionId))?.status).toBe('running');
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested', 'approval.decided']);
  });

  it('reject fails the task with ApprovalRejectedError', async () => {
    const a = await pendingApproval();
    const res = await decide(a.approvalId, { decision: 'reject', comment: 'no tests for the edge case' });
    expect(res.status).toBe(200);
    expect(callbacks.sent[0]).toMatchObject({
      kind: 'failure',
      token: a.token,
      error: 'ApprovalRejectedError',
    });
    expect(JSON.parse(callbacks.sent[0]!.cause!)).toMatchObject({ comment: 'no tests for the edge case' });
    expect((await approvals.get(a.approvalId))?.status).toBe('rejected');
  });

  it('a second decision gets 409 naming who decided, and changes nothing', async () => {
    const a = await pendingApproval();
    await decide(a.approvalId, { decision: 'approve' });
    const res = await decide(a.approvalId, { decision: 'reject' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/already approved by alice/);
    expect(callbacks.sent).toHaveLength(1);
    expect((await approvals.get(a.approvalId))?.status).toBe('approved');
  });

  it('someone not among the approvers gets 403, and nothing changes', async () => {
    const a = await pendingApproval();
    decider = MALLORY;
    const res = await decide(a.approvalId, { decision: 'approve' });
    expect(res.status).toBe(403);
    expect(callbacks.sent).toEqual([]);
    expect((await approvals.get(a.approvalId))?.status).toBe('pending');
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested']);
  });

  it('an unidentified caller gets 401; a runtime without callbacks 503; both change nothing', async () => {
    const a = await pendingApproval();
    decider = undefined;
    expect((await decide(a.approvalId, { decision: 'approve' })).status).toBe(401);
    decider = ALICE;
    expect((await decide(a.approvalId, { decision: 'approve' }, false)).status).toBe(503);
    expect((await approvals.get(a.approvalId))?.status).toBe('pending');
  });

  it('after expiry: 409 with the expiry time, and the record (and outbox) say expired', async () => {
    // Prepare: requested two hours ago with a one-hour timeout.
    const a = await pendingApproval(3600, new Date(Date.now() - 2 * 3600_000));
    const expiresAt = (await approvals.get(a.approvalId))!.expiresAt!.toISOString();
    // Act
    const res = await decide(a.approvalId, { decision: 'approve' });
    // Assess
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toContain(expiresAt);
    expect(callbacks.sent).toEqual([]);
    const listed = (await (await app().request('/approvals?status=expired')).json()) as {
      items: { approvalId: string }[];
    };
    expect(listed.items.map((i) => i.approvalId)).toContain(a.approvalId);
    expect(await eventTypes(a.executionId)).toEqual(['approval.requested', 'approval.expired']);
  });

  it('the engine says TaskTimedOut: 409 and the record says expired; TaskDoesNotExist: 410 and nothing changes', async () => {
    const a = await pendingApproval();
    callbacks.refuseWith = 'TaskTimedOut';
    expect((await decide(a.approvalId, { decision: 'approve' })).status).toBe(409);
    expect((await approvals.get(a.approvalId))?.status).toBe('expired');

    const b = await pendingApproval();
    callbacks.refuseWith = 'TaskDoesNotExist';
    const gone = await decide(b.approvalId, { decision: 'approve' });
    expect(gone.status).toBe(410);
    expect((await approvals.get(b.approvalId))?.status).toBe('pending');
  });

  it('bad input: unknown id 404, malformed decision 400 naming the field, malformed JSON 400', async () => {
    expect((await app().request('/approvals/apr-doesnotexist')).status).toBe(404);
    expect((await decide('apr-doesnotexist', { decision: 'approve' })).status).toBe(404);
    const a = await pendingApproval();
    const bad = await decide(a.approvalId, { decision: 'maybe' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('decision');
    expect((await decide(a.approvalId, '{"decision":')).status).toBe(400);
    expect((await approvals.get(a.approvalId))?.status).toBe('pending');
  });
});
