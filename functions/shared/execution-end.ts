import type { ExecutionStatus, Store } from './ports/store.ts';
import { transitionsMicros } from './pricing/aws.ts';

/** The end of an execution as Step Functions reports it (status change event, DescribeExecution, local result). */
export interface ExecutionEnd {
  readonly status: Extract<ExecutionStatus, 'succeeded' | 'failed' | 'cancelled' | 'timed_out'>;
  readonly output?: unknown;
  readonly error?: { error: string; cause: string } | undefined;
}

const END_STATUS: Readonly<Record<string, ExecutionEnd['status'] | undefined>> = {
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  TIMED_OUT: 'timed_out',
  ABORTED: 'cancelled',
};

/**
 * The end a Step Functions execution status reports, with its output (JSON when it parses, the raw string
 * otherwise) and error; undefined for statuses that are not an end (RUNNING, PENDING_REDRIVE). Shared by the
 * status-change projector and the reconciler so both record the same row for the same execution.
 */
export function executionEndOf(report: {
  status: string | undefined;
  output?: string | null | undefined;
  error?: string | null | undefined;
  cause?: string | null | undefined;
}): ExecutionEnd | undefined {
  const status = report.status ? END_STATUS[report.status] : undefined;
  if (!status) return undefined;
  let output: unknown = null;
  if (report.output) {
    try {
      output = JSON.parse(report.output);
    } catch {
      output = report.output;
    }
  }
  return {
    status,
    output,
    error:
      status === 'succeeded'
        ? undefined
        : { error: report.error ?? String(report.status), cause: report.cause ?? '' },
  };
}

/**
 * Projects how an execution ended onto its row, for runs that did not record it themselves (a workflow
 * without an execution-finish step, a failure outside any Catch, an abort or a timeout). A row the workflow
 * already finished (e.g. `budget_exceeded` via execution-finish) is left as it is. With a transition count,
 * also charges the execution's state transitions (kind `transition`), once. Then writes the run's terminal
 * event if it has none yet: after every charge, so it is the run's last event and carries its final total.
 * @returns whether the row changed (false when it had already ended or does not exist)
 */
export async function projectExecutionEnd(
  store: Store,
  executionId: string,
  end: ExecutionEnd,
  transitions?: number,
  /** Which drive of the execution this end closes (0 = the first, n = the n-th redrive): each charges its own. */
  drive = 0,
): Promise<boolean> {
  // The row ends now; its terminal event waits until the transitions are charged below, so it is the run's
  // last event and carries its final total (a consumer may stop reading at it).
  const { changed } = await store.finishExecution(
    { id: executionId, status: end.status, output: end.output, error: end.error ?? null },
    { readExisting: false, endEvent: false },
  );
  if (transitions !== undefined && transitions > 0) {
    // Once per execution (idempotency key), however often the end is reported.
    // Settles the transition holds its steps took: the exact count replaces them.
    await store.recordCost(
      {
        executionId,
        kind: 'transition',
        usdMicros: transitionsMicros(transitions),
        idempotencyKey: drive === 0 ? `${executionId}/transitions` : `${executionId}/transitions/${drive}`,
      },
      [],
      { settleHeldKind: 'transition' },
    );
  }
  // Written once per run, here or by the first projection of its end (execution-finish leaves it to this).
  await store.recordExecutionEnd(executionId);
  return changed;
}
