import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { openTestStore } from '../helpers/database.ts';

let store: Store;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ store, close } = await openTestStore());
});
afterAll(async () => {
  await close();
});

describe('Store: completing a step written again', () => {
  it('a second completeStep of the same attempt (its first reply lost) charges nothing more and changes nothing', async () => {
    // Prepare: an attempt completed once, with 3 µ$ of compute
    const id = `step-again-${Date.now()}`;
    await store.createExecution({ id, workflow: 'w', input: {}, budgetMicros: null });
    const step = await store.beginStep({
      executionId: id,
      stateName: 'Plan',
      activity: 'llm-invoke',
      enteredAt: new Date().toISOString(),
      attempt: 0,
    });
    await store.completeStep({ stepId: step.id, status: 'succeeded', durationMs: 120, computeMicros: 3 });

    // Act: the same completion retried, then a late failure of the same attempt
    await store.completeStep({ stepId: step.id, status: 'succeeded', durationMs: 130, computeMicros: 3 });
    await store.completeStep({
      stepId: step.id,
      status: 'failed',
      durationMs: 140,
      computeMicros: 3,
      error: { error: 'Late', cause: 'late' },
    });

    // Assess: one compute row, the totals its sum, the first end kept
    const costs = await store.listCosts(id);
    expect(costs.map((c) => [c.kind, c.usdMicros])).toEqual([['lambda', 3]]);
    expect((await store.getExecution(id))?.costMicros).toBe(3);
    const [row] = await store.listSteps(id);
    expect([row?.status, row?.durationMs, row?.costMicros]).toEqual(['succeeded', 120, 3]);
  });
});
