/**
 * code-review-gate.asl.json through the embedded engine, with the real handlers, the real local sandbox and
 * the approval decided through the local API (POST /approvals/{id}/decision) as a person would.
 *
 * These cases need an engine that runs `lambda:invoke.waitForTaskToken` for real (the Task waits for the
 * token, `$$.Task.Token` resolves, `TimeoutSeconds` fails it with States.Timeout) and whose orchestrator
 * implements TaskCallbacks (functions/shared/ports/task-callbacks.ts) — the durable engine replacing
 * aws-local-stepfunctions. They are plain tests, not skipped: on the older interpreter they fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelExecution, startExecution } from '#shared/executions';
import type { ApprovalRow } from '#shared/ports/approvals';
import { createLocalApi } from '../../infra/local/cli/local-api.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';

let local: LocalRuntime;
let api: ReturnType<typeof createLocalApi>;
const HOST = 'wflo.test';
let n = 0;

beforeAll(async () => {
  // The local decider is alice, acting as a reviewer (WFLO_USER, WFLO_USER_ROLES).
  local = await startLocal({ SANDBOX_UNSAFE_LOCAL: 'true', WFLO_USER: 'alice', WFLO_USER_ROLES: 'reviewer' });
  api = createLocalApi(local, {
    allowedHosts: () => new Set([HOST]),
    // The engine resumes the waiting task: this is where `wflo dev` plugs its orchestrator in.
    taskCallbacks: local.orchestrator,
  });
});
afterAll(async () => {
  await stopLocal(local);
});

const PASSING = "console.log('all 3 tests passed')";

function input(over: Record<string, unknown> = {}) {
  return {
    document: `README-${n++}`,
    change: { language: 'javascript', code: PASSING, summary: 'Fix the typo in the install section' },
    approvers: { roles: ['reviewer'] },
    ...over,
  };
}

async function start(body: Record<string, unknown>) {
  const { execution } = await startExecution(
    { store: local.runtime.store, engine: local.engine },
    { workflow: 'code-review-gate', input: body, budgetMicros: null },
  );
  return execution.id;
}

/** Waits until the run asks for approval (the Task is waiting on its token). */
async function pendingApprovalOf(executionId: string): Promise<ApprovalRow> {
  for (let i = 0; i < 600; i++) {
    const rows = await local.runtime.approvals.list({ status: 'pending', limit: 200 });
    const row = rows.find((r) => r.executionId === executionId);
    if (row) return row;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no pending approval for ${executionId}`);
}

async function decide(id: string, body: unknown) {
  const res = await api.request(`/approvals/${id}/decision`, {
    method: 'POST',
    headers: { host: HOST, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function ended(executionId: string) {
  await local.orchestrator.drain();
  const store = local.runtime.store;
  return {
    execution: (await store.getExecution(executionId))!,
    steps: await store.listSteps(executionId),
    events: (await store.listEvents(executionId, 0, 1000)).map((e) => e.type),
  };
}

describe('State machine: code-review-gate.asl.json', () => {
  it('ApprovedPath: tests pass, the reviewer approves, the change is written under the lock with its fencing token', async () => {
    // Prepare
    const body = input();
    const id = await start(body);
    const approval = await pendingApprovalOf(id);
    expect((await local.runtime.store.getExecution(id))?.status).toBe('waiting_approval');

    // Act
    const decision = await decide(approval.id, { decision: 'approve', comment: 'ship it' });
    const { execution, steps, events } = await ended(id);

    // Assess
    expect(decision).toMatchObject({ status: 200, body: { status: 'approved', decidedBy: 'alice' } });
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toMatchObject({
      outcome: 'applied',
      document: body.document,
      approvalId: approval.id,
      approvedBy: 'alice',
      comment: 'ship it',
    });
    const doc = await local.runtime.documents.read(body.document);
    expect(doc?.content).toMatchObject({ code: PASSING, approvedBy: 'alice' });
    expect(doc?.fencingToken).toBe((execution.output as { fencingToken: number }).fencingToken);
    expect(steps.map((s) => s.stateName)).toEqual([
      'PrepareTests',
      'CollectTests',
      'AskReviewer',
      'LockDocument',
      'Apply',
      'Release',
      'FinishApplied',
    ]);
    for (const type of ['approval.requested', 'approval.decided', 'lock.acquired', 'lock.released']) {
      expect(events).toContain(type);
    }
  });

  it('ApprovalRejected: the reviewer rejects, the change is discarded and nothing is written', async () => {
    const body = input();
    const id = await start(body);
    const approval = await pendingApprovalOf(id);

    const decision = await decide(approval.id, {
      decision: 'reject',
      comment: 'needs a test for the edge case',
    });
    const { execution, steps } = await ended(id);

    expect(decision.status).toBe(200);
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toMatchObject({ outcome: 'discarded', document: body.document });
    expect(JSON.stringify(execution.output)).toContain('needs a test for the edge case');
    expect(await local.runtime.documents.read(body.document)).toBeUndefined();
    expect(steps.map((s) => s.stateName)).not.toContain('LockDocument');
  });

  it('ApprovalExpired: nobody decides in time, States.Timeout routes to Expired and the record says expired', async () => {
    const body = input({ approvalTimeoutSeconds: 1 });
    const id = await start(body);
    const approval = await pendingApprovalOf(id);

    const { execution } = await ended(id);
    const late = await decide(approval.id, { decision: 'approve' });

    expect(execution.status).toBe('succeeded');
    expect(execution.output).toMatchObject({ outcome: 'expired', error: { Error: 'States.Timeout' } });
    expect(late.status).toBe(409);
    expect((await local.runtime.approvals.get(approval.id))?.status).toBe('expired');
    expect(await local.runtime.documents.read(body.document)).toBeUndefined();
  });

  it('ApprovalExpiredSwept: nobody decides or reads; the runtime sweeper records expired with approval.expired once', async () => {
    // Prepare
    const body = input({ approvalTimeoutSeconds: 1 });
    const id = await start(body);
    const approval = await pendingApprovalOf(id);

    // Act: the Task times out on its own; only the runtime's sweeper (every 5 s) looks at the record
    const { execution } = await ended(id);
    let status = (await local.runtime.approvals.get(approval.id))?.status;
    for (let i = 0; i < 300 && status === 'pending'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await local.runtime.approvals.get(approval.id))?.status;
    }

    // Assess
    expect(execution.output).toMatchObject({ outcome: 'expired', error: { Error: 'States.Timeout' } });
    expect(status).toBe('expired');
    const events = (await local.runtime.store.listEvents(id, 0, 1000)).map((e) => e.type);
    expect(events.filter((t) => t === 'approval.expired')).toHaveLength(1);
  });

  it('NotAnApprover: a decider without the role gets 403 and the run keeps waiting', async () => {
    const body = input({ approvers: { roles: ['security-team'] } });
    const id = await start(body);
    const approval = await pendingApprovalOf(id);

    const refused = await decide(approval.id, { decision: 'approve' });

    expect(refused.status).toBe(403);
    expect((await local.runtime.approvals.get(approval.id))?.status).toBe('pending');
    expect((await local.runtime.store.getExecution(id))?.status).toBe('waiting_approval');
    // Let it end: cancelled, as a person would stop a run nobody may approve.
    const cancelled = await cancelExecution({ store: local.runtime.store, engine: local.engine }, id);
    expect(cancelled.status).toBe('cancelled');
  });

  it('TestsFail: a change whose tests fail is discarded without asking anyone', async () => {
    const body = input({
      change: { language: 'javascript', code: 'process.exit(1)', summary: 'Breaks the build' },
    });
    const id = await start(body);

    const { execution, events } = await ended(id);

    expect(execution.output).toMatchObject({ outcome: 'tests-failed' });
    expect(events).not.toContain('approval.requested');
  });
});
