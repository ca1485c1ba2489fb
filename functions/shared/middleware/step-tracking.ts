import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { METRICS } from '../contracts/metrics.ts';
import { untilWritten } from '../db/retry.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { logger, metrics } from '../observability.ts';
import type { Store } from '../ports/store.ts';
import { lambdaComputeMicros } from '../pricing/aws.ts';
import { entryKey, StepFunctionsContextSchema, type StepInfo } from '../step-context.ts';
import { holdStep, memoryOf, transitionsAheadOf } from './budget.ts';
import { describeIssues } from './validate-input.ts';

// Executions this process has already seen exist, so later steps skip the lookup. Bounded: oldest go first.
const knownExecutions = new Set<string>();
const KNOWN_LIMIT = 10_000;
function rememberExecution(id: string): void {
  knownExecutions.add(id);
  if (knownExecutions.size > KNOWN_LIMIT) knownExecutions.delete(knownExecutions.values().next().value!);
}

/**
 * Tells stepTracking that an execution's row exists, so its first step skips the lookup. The embedded
 * engine calls it for executions it starts after the API created their row (same process); on Lambda the
 * API runs elsewhere, and the first step looks.
 */
export function executionRecorded(id: string): void {
  rememberExecution(id);
}

/** The Lambda context as activities see it after stepTracking ran. */
export interface ActivityContext extends Context {
  step: StepInfo;
}

/**
 * Completes a step attempt with its duration since `t0` and its compute charged (kind lambda), settling
 * the compute hold taken before it ran (if any).
 */
function closeStep(
  store: Store,
  s: { stepId: number; t0: number; computeKey?: string | undefined },
  context: Context,
  status: 'succeeded' | 'failed',
  error?: { error: string; cause: string },
): Promise<void> {
  const durationMs = Math.round(performance.now() - s.t0);
  // Written through a store outage (a PostgreSQL restart) for as long as the invocation has time: a step
  // whose end is never written stays `running` for ever. completeStep is idempotent (a running step only).
  const left = context.getRemainingTimeInMillis() - CLOSE_MARGIN_MS;
  return untilWritten(
    () =>
      store.completeStep({
        stepId: s.stepId,
        status,
        durationMs,
        error: error ?? null,
        computeMicros: lambdaComputeMicros(memoryOf(context), durationMs),
        ...(s.computeKey ? { reservationKey: s.computeKey } : {}),
      }),
    { signal: left > 0 ? AbortSignal.timeout(Math.floor(left)) : AbortSignal.abort() },
  );
}

/** Kept back from the invocation's deadline when retrying a step's end: time to reply. */
const CLOSE_MARGIN_MS = 250;

function errorInfo(err: unknown): { error: string; cause: string } {
  if (err instanceof Error) return { error: err.name, cause: err.message };
  return { error: 'Error', cause: String(err) };
}

/**
 * Writes the step row for every activity invocation, holds its worst case against the run's budget before
 * it runs (middleware/budget.ts: refused with `BudgetExceededError` when it does not fit), and charges its compute (memory × billed duration,
 * kind `lambda`) to the ledger: `step.started` (or `step.retrying` on attempt > 0)
 * before the handler, then `step.succeeded`/`step.failed` with duration and error after it, each with its
 * outbox event in the same transaction. Needs `event.context` = the `$$` fields of TASK_CONTEXT_PARAMETERS.
 * An execution started outside the API (e.g. from the console) gets its row on first sight.
 */
export function stepTracking(
  activity: string,
  runtime: () => Promise<{ readonly store: Store }>,
): MiddlewareObj {
  const started = new WeakMap<object, { stepId: number; t0: number }>();
  return {
    before: async (request) => {
      const raw = (request.event as { context?: unknown } | null)?.context;
      const parsed = StepFunctionsContextSchema.safeParse(raw);
      if (!parsed.success) {
        const issues = describeIssues(parsed.error).map((i) =>
          i.startsWith('(root)') ? `context${i.slice(6)}` : `context.${i}`,
        );
        throw new ValidationError(
          `missing or invalid Step Functions context (TASK_CONTEXT_PARAMETERS in step-context.ts): ${issues.join('; ')}`,
          issues,
        );
      }
      const sfn = parsed.data;
      // Inside a Map, iterations of one state can share an EnteredTime: the payload's `item` tells them apart.
      const rawItem = (request.event as { item?: unknown }).item;
      const item = rawItem === undefined || rawItem === null ? '' : String(rawItem);
      const { store } = await runtime();
      const executionId = sfn.Execution.Name;
      if (!knownExecutions.has(executionId)) {
        if (!(await store.getExecution(executionId))) {
          await store
            .createExecution({
              id: executionId,
              workflow: sfn.StateMachine.Name,
              // Tasks no longer receive the execution input (only the `$$` fields they need), so a row
              // created here records none; the console's execution view still has it.
              input: {},
              running: true,
            })
            .catch((err: unknown) => {
              // Another step of the same execution created it first.
              if (!(err instanceof ConflictError)) throw err;
            });
        }
        rememberExecution(executionId);
      }
      const resultKey = `${entryKey({ executionId, stateName: sfn.State.Name, enteredTime: sfn.State.EnteredTime, item })}/${activity}`;
      const t0 = performance.now();
      const row = await store.beginStep(
        {
          executionId,
          stateName: sfn.State.Name,
          activity,
          enteredAt: sfn.State.EnteredTime,
          item,
          attempt: sfn.State.RetryCount,
        },
        { keptResultKey: resultKey },
      );
      if (row.kept !== undefined) {
        // A retry of an entry whose activity already finished (e.g. Step Functions retried after a Lambda
        // service error): answer with the kept result; nothing runs or is charged twice.
        await closeStep(store, { stepId: row.id, t0 }, request.context, 'succeeded');
        logger.info('returning the kept result of this state entry', { resultKey });
        return row.kept;
      }
      const step: StepInfo = {
        stepId: row.id,
        executionId,
        workflow: sfn.StateMachine.Name,
        stateName: sfn.State.Name,
        enteredTime: sfn.State.EnteredTime,
        item,
        attempt: sfn.State.RetryCount,
        resultKey,
      };
      (request.context as ActivityContext).step = step;
      const s: { stepId: number; t0: number; computeKey?: string | undefined } = { stepId: row.id, t0 };
      // Set before the hold, so a refused step is closed `failed` by onError like any other failure.
      started.set(request.context, s);
      // The step's worst case is held before it spends: BudgetExceededError here means it never starts.
      const holds = await holdStep(store, activity, step, request.context, transitionsAheadOf(request.event));
      s.computeKey = holds.computeKey;
    },
    after: async (request) => {
      const s = started.get(request.context);
      if (!s) return;
      const { store } = await runtime();
      await closeStep(store, s, request.context, 'succeeded');
      metrics.addMetric(METRICS.StepSucceeded, MetricUnit.Count, 1);
    },
    onError: async (request) => {
      const s = started.get(request.context);
      if (!s) return;
      metrics.addMetric(METRICS.StepFailed, MetricUnit.Count, 1);
      try {
        const { store } = await runtime();
        await closeStep(store, s, request.context, 'failed', errorInfo(request.error));
      } catch (recordError) {
        // The activity's own error is what Step Functions must see; a failed bookkeeping write is logged.
        logger.error('could not record step failure', { stepId: s.stepId, error: recordError as Error });
      }
    },
  };
}
