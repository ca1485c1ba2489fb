import type { Context } from 'aws-lambda';
import type { ExecutionStatus, Store } from '#shared/ports/store';
import type { ActivityDefinition } from '../../activities.ts';
import type { Workflow } from './workflows.ts';

/*
 * The local orchestrator's public shapes: what it runs (handlers, integrations), how it is configured and
 * what a run reports (infra/local/engine/orchestrator.ts).
 */

/** A Lambda handler as exported by `functions/activities/*.ts`. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalFunction {
  readonly activity: ActivityDefinition;
  readonly handler: LambdaHandler;
}

/** What a local service integration learns about the Task attempt it runs. */
export interface LocalIntegrationContext {
  readonly executionId: string;
  readonly workflow: string;
  readonly stateName: string;
  readonly enteredTime: string;
  readonly attempt: number;
  /** Aborted when the attempt times out (TimeoutSeconds) or the execution is cancelled. */
  readonly signal: AbortSignal;
}

/**
 * A local stand-in for a Step Functions service integration (e.g. `arn:aws:states:::ecs:runTask.sync`):
 * receives the resolved `Parameters` and returns what the integration would. Throw an error whose `name`
 * is what Step Functions would report (e.g. `States.TaskFailed`) for Retry/Catch to match.
 */
export type LocalIntegration = (params: unknown, context: LocalIntegrationContext) => Promise<unknown>;

export interface LocalOrchestratorOptions {
  readonly workflows: ReadonlyMap<string, Workflow>;
  /** Function ARN (as substituted into the ASL) → in-process handler. */
  readonly functions: ReadonlyMap<string, LocalFunction>;
  readonly store: Store;
  /** Service integrations run locally, keyed by the exact Task `Resource`. @default none */
  readonly integrations?: ReadonlyMap<string, LocalIntegration>;
  /** Multiplies every Retry interval: 1 keeps the ASL's timing, 0 retries at once (tests). @default 1 */
  readonly retryIntervalScale?: number;
}

/** How an execution ended, as the Step Functions console would show it. */
export interface ExecutionOutcome {
  readonly status: Extract<ExecutionStatus, 'succeeded' | 'failed' | 'cancelled' | 'timed_out'>;
  readonly output?: unknown;
  readonly error?: { error: string; cause: string };
}

export interface RunHandle {
  readonly executionId: string;
  readonly workflow: string;
  /** Settles when the execution ended and its final status is in the store; never rejects. */
  readonly done: Promise<ExecutionOutcome>;
  abort(): void;
}

/** Step Functions' limit on a state's input or output: 256 KiB. */
export const PAYLOAD_LIMIT_BYTES = 262_144;
