import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeApprovals } from '#shared/approvals/store-approvals';
import { startApprovalSweeper, sweepExpiredApprovals } from '#shared/approvals/sweep';
import type { DbConnection } from '#shared/db/connection';
import type { ApprovalStore } from '#shared/ports/approvals';
import type { Store } from '#shared/ports/store';
import { createStore } from '#shared/store/create-store';
import { installRuntime, type Runtime, uninstallRuntime } from '#shared/wiring/lazy';
import { handler as sweeperLambda } from '../../functions/events/approval-sweeper.ts';
import { requestTestApproval } from '../helpers/approvals.ts';
import { openTestConnection } from '../helpers/database.ts';

/*
 * The expiry sweeper on the store's adapter (PGlite here, PostgreSQL in the integration run), its clock
 * injected: what is due is expired once with approval.expired once, whoever else marks it.
 */

let conn: DbConnection;
let store: Store;
let approvals: ApprovalStore;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ conn, drop } = await openTestConnection());
  store = createStore(conn);
  approvals = storeApprovals(conn.db);
});
afterAll(async () => {
  await conn?.close();
  await drop?.();
});

const reviewers = { principals: [], roles: ['reviewer'] };
const expiredEvents = async (executionId: string) =>
  (await store.listEvents(executionId, 0, 100)).filter((e) => e.type === 'approval.expired');

describe('Approval expiry sweeper', () => {
  it('expires nothing before the expiry and the approval once after it, with approval.expired once', async () => {
    // Prepare: a 60 s approval requested at T
    const t = Date.now();
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 60, now: new Date(t) },
    );
    // Act
    const early = await sweepExpiredApprovals(approvals, new Date(t + 59_000));
    const due = await sweepExpiredApprovals(approvals, new Date(t + 61_000));
    const again = await sweepExpiredApprovals(approvals, new Date(t + 120_000));
    // Assess
    expect(early.expired).not.toContain(a.approvalId);
    expect(due.expired).toContain(a.approvalId);
    expect(again.expired).not.toContain(a.approvalId);
    expect((await approvals.get(a.approvalId))?.status).toBe('expired');
    expect(await expiredEvents(a.executionId)).toHaveLength(1);
    expect((await store.getExecution(a.executionId))?.status).toBe('running');
  });

  it('the engine timed the task out (markExpired) while a sweep runs: one change, one event', async () => {
    // Prepare
    const t = Date.now();
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 1, now: new Date(t) },
    );
    // Act: both at once, then the sweep again
    await Promise.all([
      approvals.markExpired(a.approvalId),
      sweepExpiredApprovals(approvals, new Date(t + 5_000)),
      sweepExpiredApprovals(approvals, new Date(t + 5_000)),
    ]);
    await sweepExpiredApprovals(approvals, new Date(t + 10_000));
    // Assess
    expect((await approvals.get(a.approvalId))?.status).toBe('expired');
    expect(await expiredEvents(a.executionId)).toHaveLength(1);
  });

  it('a decided approval is never expired by a later sweep', async () => {
    // Prepare
    const t = Date.now();
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 60, now: new Date(t) },
    );
    await approvals.recordDecision({
      id: a.approvalId,
      decision: { decision: 'approve', comment: null },
      decidedBy: 'alice',
    });
    // Act
    const swept = await sweepExpiredApprovals(approvals, new Date(t + 3_600_000));
    // Assess
    expect(swept.expired).not.toContain(a.approvalId);
    expect((await approvals.get(a.approvalId))?.status).toBe('approved');
    expect(await expiredEvents(a.executionId)).toHaveLength(0);
  });

  it('the embedded timer sweeps on its interval with its clock, and stops', async () => {
    // Prepare: a one-hour approval; the timer's clock is two hours ahead
    const t = Date.now();
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 3600, now: new Date(t) },
    );
    const swept: string[] = [];
    // Act
    const stop = startApprovalSweeper(approvals, {
      intervalMs: 20,
      now: () => new Date(t + 7_200_000),
      onSwept: (ids) => swept.push(...ids),
    });
    for (let i = 0; i < 500 && !swept.includes(a.approvalId); i++)
      await new Promise((r) => setTimeout(r, 10));
    await stop();
    // Assess
    expect(swept).toContain(a.approvalId);
    expect((await approvals.get(a.approvalId))?.status).toBe('expired');
  });

  it('the scheduled Lambda sweeps the approvals the runtime wires (the store here, DynamoDB on AWS)', async () => {
    // Prepare: already past its expiry (requested two minutes ago, 60 s timeout)
    const a = await requestTestApproval(
      { store, approvals },
      { approvers: reviewers, timeoutSeconds: 60, now: new Date(Date.now() - 120_000) },
    );
    // Only the part the sweeper takes from the runtime (getApprovals); the rest is never read.
    installRuntime({ approvals } as Partial<Runtime> as Runtime);
    try {
      // Act
      const out = await sweeperLambda();
      // Assess
      expect(out.expired).toContain(a.approvalId);
      expect(await expiredEvents(a.executionId)).toHaveLength(1);
    } finally {
      // A view of this file's store: forgotten, not closed (afterAll closes the store).
      uninstallRuntime();
    }
  });
});
