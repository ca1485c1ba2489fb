import { DescribeExecutionCommand, ExecutionDoesNotExist, type SFNClient } from '@aws-sdk/client-sfn';
import { executionEndOf, projectExecutionEnd } from './execution-end.ts';
import { executionArnOf } from './execution-names.ts';
import { logger } from './observability.ts';
import type { ExecutionRow, ExecutionStatus, Store } from './ports/store.ts';

/** Statuses of a row whose end has not been recorded (Step Functions may still be running it, or not). */
export const UNFINISHED_STATUSES: readonly ExecutionStatus[] = ['pending', 'running', 'waiting_approval'];

/** The error a row gets when Step Functions has no execution for it after the grace period. */
export const EXECUTION_NOT_FOUND = 'wflo.ExecutionNotFound';

/**
 * Defaults of the deployed reconciler. The grace period leaves the status projector (SQS retries for up to
 * ~15 minutes) and an API start in flight time to record an end first; the bounds keep one run well inside a
 * 60 s invocation and far below DescribeExecution's quota.
 */
export const RECONCILE_DEFAULTS = {
  graceMs: 15 * 60_000,
  pageSize: 50,
  maxDescribes: 200,
  /** Time kept back from the invocation's deadline. */
  marginMs: 5_000,
} as const;

export interface ReconcileOptions {
  /** Workflow name → state machine ARN (config `stateMachines`). */
  readonly stateMachines: Readonly<Record<string, string>>;
  /** Rows younger than this are left to the status projector (and to a start still in flight). */
  readonly graceMs: number;
  /** Rows read per store query. */
  readonly pageSize: number;
  /** DescribeExecution calls per run, at most: bounds the run's cost and its share of the API's quota. */
  readonly maxDescribes: number;
  /** Epoch ms after which no further execution is described (the invocation's time budget). */
  readonly deadline: number;
  readonly now?: () => number;
}

/** What one reconciler run did, for its log line and metrics. */
export interface ReconcileReport {
  /** Rows described. */
  described: number;
  /** Rows moved to the end Step Functions reports. */
  reconciled: number;
  /** Rows marked failed because Step Functions has no such execution. */
  missing: number;
  /** Rows whose execution is still running (left untouched). */
  running: number;
  /** Rows of workflows this deployment does not have (left untouched). */
  unknownWorkflow: number;
  /** True when the run stopped early: throttled, out of time or out of describes; the rest waits for the next run. */
  stoppedEarly: boolean;
  /** Rows that could not be described for another reason (AccessDenied, …): the run fails after the others. */
  errors: { executionId: string; error: string }[];
}

/** The execution ARN of a row: wflo names each execution after its row id (execution-names.ts). */
function rowExecutionArn(stateMachineArn: string, row: Pick<ExecutionRow, 'id'>): string {
  const arn = executionArnOf(stateMachineArn, row.id);
  if (!arn) throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  return arn;
}

const isThrottle = (err: unknown): boolean =>
  err instanceof Error &&
  (err.name === 'ThrottlingException' ||
    err.name === 'TooManyRequestsException' ||
    (err as { $retryable?: { throttling?: boolean } }).$retryable?.throttling === true);

/**
 * Finds executions whose end was never recorded (the status projector failed, or its event was lost),
 * asks Step Functions how each one is doing with DescribeExecution, and records the end it reports through
 * the same {@link projectExecutionEnd} the projector uses (idempotent: an end recorded in between wins).
 * Oldest rows first; a row whose execution does not exist (a start that never happened) is marked failed.
 * Bounded by `maxDescribes` and `deadline`; a throttled call ends the run and leaves the rest for the next.
 * State transitions are not charged here: the projector charges them when its dead letters are redriven.
 * Runs that are legitimately still running past the grace period are described on every run too; with more
 * than `maxDescribes` of them, younger stuck rows wait until older ones end (state machine timeouts bound that).
 */
export async function reconcileExecutions(
  store: Store,
  sfn: Pick<SFNClient, 'send'>,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const now = options.now ?? Date.now;
  const report: ReconcileReport = {
    described: 0,
    reconciled: 0,
    missing: 0,
    running: 0,
    unknownWorkflow: 0,
    stoppedEarly: false,
    errors: [],
  };
  const createdBefore = new Date(now() - options.graceMs);
  let after: { createdAt: Date; id: string } | undefined;
  for (;;) {
    const page = await store.listStaleExecutions({
      statuses: UNFINISHED_STATUSES,
      createdBefore,
      limit: options.pageSize,
      after,
    });
    for (const row of page) {
      if (report.described >= options.maxDescribes || now() >= options.deadline) {
        report.stoppedEarly = true;
        return report;
      }
      const stateMachineArn = options.stateMachines[row.workflow];
      if (!stateMachineArn) {
        report.unknownWorkflow++;
        continue;
      }
      const executionArn = rowExecutionArn(stateMachineArn, row);
      report.described++;
      try {
        const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        const end = executionEndOf(described);
        if (!end) {
          report.running++;
          continue;
        }
        if (await projectExecutionEnd(store, row.id, end)) report.reconciled++;
      } catch (err) {
        if (err instanceof ExecutionDoesNotExist) {
          const cause = `Step Functions has no execution ${executionArn}, ${Math.round(options.graceMs / 60_000)} min or more after the run was created: it never started, or its history has expired.`;
          if (
            await projectExecutionEnd(store, row.id, {
              status: 'failed',
              error: { error: EXECUTION_NOT_FOUND, cause },
            })
          ) {
            report.missing++;
          }
        } else if (isThrottle(err)) {
          logger.warn('DescribeExecution throttled; the rest waits for the next run', { executionArn });
          report.stoppedEarly = true;
          return report;
        } else {
          report.errors.push({
            executionId: row.id,
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          });
        }
      }
    }
    const last = page.at(-1);
    if (page.length < options.pageSize || !last) return report;
    after = { createdAt: last.createdAt, id: last.id };
  }
}
