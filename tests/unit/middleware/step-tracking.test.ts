import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '#shared/errors';
import { executionRecorded, stepTracking } from '#shared/middleware/step-tracking';
import type { Store } from '#shared/ports/store';

/** A store whose completeStep fails `failures` times as unavailable (a PostgreSQL restart), then works. */
function flakyStore(failures: number) {
  const completed: unknown[] = [];
  let left = failures;
  const store = {
    async beginStep() {
      return { id: 7, activity: 'llm-invoke', enteredAt: '2026-11-29T00:00:00.000Z' };
    },
    // The step's budget holds (compute, transitions) fit: this test is about the step's end.
    async reserveBudgets() {
      return { ok: true };
    },
    async completeStep(step: unknown) {
      if (left-- > 0)
        throw new StoreUnavailableError('store unavailable during completeStep (57P01); retry', '57P01');
      completed.push(step);
    },
  } as unknown as Store;
  return { store, completed };
}

const request = (executionId: string) => ({
  event: {
    context: {
      Execution: { Name: executionId },
      StateMachine: { Name: 'agent-loop' },
      State: { Name: 'Plan', EnteredTime: '2026-11-29T00:00:00.000Z', RetryCount: 0 },
    },
  },
  context: { getRemainingTimeInMillis: () => 60_000, memoryLimitInMB: '512' } as unknown as Context,
  response: undefined,
  error: undefined,
  internal: {},
});

describe('stepTracking: the end of a step through a store outage', () => {
  it('writes a succeeded step once the store is back, instead of leaving it running', async () => {
    // Prepare
    const { store, completed } = flakyStore(2);
    const middleware = stepTracking('llm-invoke', async () => ({ store }));
    executionRecorded('exec-outage-1');
    const req = request('exec-outage-1');

    // Act
    await middleware.before!(req as never);
    await middleware.after!(req as never);

    // Assess
    expect(completed).toEqual([expect.objectContaining({ stepId: 7, status: 'succeeded' })]);
  });

  it('writes a failed step once the store is back, instead of only logging that it could not', async () => {
    // Prepare
    const { store, completed } = flakyStore(2);
    const middleware = stepTracking('llm-invoke', async () => ({ store }));
    executionRecorded('exec-outage-2');
    const req = { ...request('exec-outage-2'), error: new Error('model down') };

    // Act
    await middleware.before!(req as never);
    await middleware.onError!(req as never);

    // Assess
    expect(completed).toEqual([
      expect.objectContaining({
        stepId: 7,
        status: 'failed',
        error: { error: 'Error', cause: 'model down' },
      }),
    ]);
  });
});
