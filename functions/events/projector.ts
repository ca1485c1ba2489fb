import type { ExecutionStatus } from '#shared/db/schema';
import { transitionsMicros } from '#shared/pricing/aws';
import type { Store } from '#shared/store';

/** The end of an execution as Step Functions reports it (status change event or local result). */
export interface ExecutionEnd {
  readonly status: Extract<ExecutionStatus, 'succeeded' | 'failed' | 'cancelled' | 'timed_out'>;
  readonly output?: unknown;
  readonly error?: { error: string; cause: string } | undefined;
}

/**
 * Projects how an execution ended onto its row, for runs that did not record it themselves (a workflow
 * without an execution-finish step, a failure outside any Catch, an abort or a timeout). A row the workflow
 * already finished (e.g. `budget_exceeded` via execution-finish) is left as it is. With a transition count,
 * also charges the execution's state transitions (kind `transition`), once.
 */
export async function projectExecutionEnd(
  store: Store,
  executionId: string,
  end: ExecutionEnd,
  transitions?: number,
): Promise<void> {
  await store.finishExecution(
    { id: executionId, status: end.status, output: end.output, error: end.error ?? null },
    { readExisting: false },
  );
  if (transitions !== undefined && transitions > 0) {
    // Once per execution (idempotency key), however often the end is reported.
    await store.recordCost({
      executionId,
      kind: 'transition',
      usdMicros: transitionsMicros(transitions),
      idempotencyKey: `${executionId}/transitions`,
    });
  }
}
