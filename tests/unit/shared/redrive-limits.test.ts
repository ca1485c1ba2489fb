import { describe, expect, it, vi } from 'vitest';
import { ConflictError } from '#shared/errors';
import { REDRIVABLE_PERIOD_MS, redriveExecution } from '#shared/executions';
import type { ExecutionRow, Store } from '#shared/ports/store';

/*
 * RedriveExecution's limits the service applies before it asks the engine: Step Functions redrives only
 * "unsuccessful executions of Standard workflows that didn't complete successfully in the last 14 days"
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html; the
 * DescribeExecution redriveStatusReason is "Execution redrivable period exceeded").
 */

const NOW = Date.parse('2026-11-29T12:00:00Z');
const DAY = 24 * 60 * 60 * 1000;

function setup(finishedAt: Date) {
  const row = {
    id: 'run-1',
    workflow: 'hello',
    status: 'failed',
    finishedAt,
    redriveCount: 0,
  } as ExecutionRow;
  const store = {
    getExecution: vi.fn(async () => row),
    listSteps: vi.fn(async () => []),
    listCosts: vi.fn(async () => []),
    redriveExecution: vi.fn(async () => ({ ...row, status: 'running', redriveCount: 1 }) as ExecutionRow),
  };
  const engine = { redriveExecution: vi.fn(async () => {}) };
  return { store, engine, deps: { store: store as unknown as Store, engine, now: () => NOW } };
}

describe('redriveExecution: the 14-day redrivable period', () => {
  it('refuses a run that ended more than 14 days ago, with Step Functions’ reason, and changes nothing', async () => {
    // Prepare
    const { store, engine, deps } = setup(new Date(NOW - REDRIVABLE_PERIOD_MS - 1_000));

    // Act
    const result = redriveExecution(deps, 'run-1');

    // Assess
    await expect(result).rejects.toBeInstanceOf(ConflictError);
    await expect(result).rejects.toThrow(/Execution redrivable period exceeded/);
    expect(store.redriveExecution).not.toHaveBeenCalled();
    expect(engine.redriveExecution).not.toHaveBeenCalled();
  });

  it('redrives a run that ended 13 days ago', async () => {
    // Prepare
    const { engine, deps } = setup(new Date(NOW - 13 * DAY));

    // Act
    const { execution } = await redriveExecution(deps, 'run-1');

    // Assess
    expect(REDRIVABLE_PERIOD_MS).toBe(14 * DAY);
    expect(execution.redriveCount).toBe(1);
    expect(engine.redriveExecution).toHaveBeenCalledWith('hello', 'run-1');
  });
});
