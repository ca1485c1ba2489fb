import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { ActivityDefinition } from '../../activities.ts';
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
    getRemainingTimeInMillis: () => Math.max(0, Math.floor(deadline - Date.now())),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
