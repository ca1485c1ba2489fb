import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { ExecutionAbortedError, ExecutionTimeoutError } from 'aws-local-stepfunctions';
import type { ActivityDefinition } from '../../activities.ts';
import type { ExecutionOutcome } from './types.ts';
import type { Retrier } from './workflows.ts';

/*
 * What Step Functions and Lambda do around one Task attempt, as the local orchestrator reproduces it: error
 * names for Retry/Catch, the retry delay, the per-entry `$$.State` and a Lambda-like context.
 */

/** Thrown into the interpreter so Retry/Catch see the same `Error`/`Cause` as on AWS. */
export class TaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** True when a Retry/Catch `ErrorEquals` list matches the error name, with Step Functions' wildcards. */
export function errorMatches(errorEquals: readonly string[], name: string): boolean {
  return errorEquals.some(
    (e) => e === name || e === 'States.ALL' || (e === 'States.TaskFailed' && name !== 'States.Timeout'),
  );
}

/**
 * The delay before retry number `count` (0-based) of a retrier, as Step Functions computes it:
 * IntervalSeconds × BackoffRate^count, capped by MaxDelaySeconds, with FULL jitter drawing uniformly below it.
 */
export function retryDelayMs(retrier: Retrier, count: number, random = Math.random): number {
  const base = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** count;
  const capped = retrier.MaxDelaySeconds === undefined ? base : Math.min(base, retrier.MaxDelaySeconds);
  const jittered = retrier.JitterStrategy === 'FULL' ? capped * random() : capped;
  return jittered * 1000;
}

/** The static `$$.State` the interpreter sees; {@link withStateContext} puts the real values in. */
export const STATE_PLACEHOLDER = {
  Name: '(set per state entry)',
  EnteredTime: '(set per state entry)',
  RetryCount: 0,
};

/**
 * Replaces the static `$$.State` fields the interpreter resolved into the payload's `context` (a Task passes
 * TASK_CONTEXT_PARAMETERS) with the real per-entry values Step Functions would give.
 */
export function withStateContext(
  payload: unknown,
  stateName: string,
  enteredTime: string,
  attempt: number,
): unknown {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return payload;
  const ctx = (payload as { context?: unknown }).context;
  if (!ctx || typeof ctx !== 'object' || !('State' in ctx)) return payload;
  return {
    ...payload,
    context: { ...ctx, State: { Name: stateName, EnteredTime: enteredTime, RetryCount: attempt } },
  };
}

/** The Lambda context a handler receives for one attempt, its remaining time counting down to `deadline`. */
export function lambdaContext(activity: ActivityDefinition, arn: string, deadline: number): Context {
  const functionName = arn.split(':')[6] ?? activity.id;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: arn,
    memoryLimitInMB: String(activity.memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** How an execution ended, from what the interpreter threw (aborted, timed out, or a Task's error). */
export function outcomeOfError(err: unknown): ExecutionOutcome {
  if (err instanceof ExecutionAbortedError) {
    return { status: 'cancelled', error: { error: 'ExecutionAborted', cause: 'Execution was aborted' } };
  }
  if (err instanceof ExecutionTimeoutError) {
    return { status: 'timed_out', error: { error: 'States.Timeout', cause: 'Execution timed out' } };
  }
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (cause instanceof Error) {
    if (cause.name === 'States.Timeout')
      return { status: 'timed_out', error: { error: cause.name, cause: cause.message } };
    return { status: 'failed', error: { error: cause.name, cause: cause.message } };
  }
  return { status: 'failed', error: { error: 'States.Runtime', cause: String(cause) } };
}
