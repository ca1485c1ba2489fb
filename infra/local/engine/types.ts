import type { Context } from 'aws-lambda';
import type { ExecutionStatus, Store } from '#shared/ports/store';
import type { ActivityDefinition } from '../../activities.ts';
import type { AwsIntegrations } from './integrations/resolver.ts';
import type { LocalS3 } from './integrations/s3.ts';
import type { InterpreterClock } from './interpreter/interpreter.ts';
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
  /** The entry's journal position (`State#visit`, with its Map/Parallel place): stable across replays. */
  readonly path?: string;
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
  /**
   * AWS service integrations (`aws-sdk:*`, `sns:publish`, `sqs:sendMessage`, `events:putEvents`, `dynamodb:*Item`):
   * a configured endpoint through the SDK, else the embedded stand-ins (integrations/resolver.ts).
   * @default endpoints from process.env, the embedded DynamoDB in memory, messages in `store`'s outbox
   */
  readonly aws?: AwsIntegrations;
  /** Multiplies every Retry interval: 1 keeps the ASL's timing, 0 retries at once (tests). @default 1 */
  readonly retryIntervalScale?: number;
  /** This process's name on the runs it drives. @default host/pid/nonce */
  readonly owner?: string;
  /** How long a claim on a run holds without renewal; a run past it is taken over. @default 15 000 */
  readonly leaseMs?: number;
  /** Keep each run's journal in the store (resume, redrive). @default true */
  readonly durable?: boolean;
  /**
   * The S3 that Distributed Map's ItemReader/ResultWriter and the `aws-sdk:s3:*` Tasks use
   * (integrations/s3.ts; the runtime roots it in the artifacts directory). @default one in memory
   */
  readonly s3?: LocalS3;
  /** Time for Waits and retry back-off (tests inject one). @default the real clock */
  readonly clock?: InterpreterClock;
}

/**
 * How an execution ended, as the Step Functions console would show it; `running` when this process let go of
 * it without an end (it stopped, and the next process resumes the run).
 */
export interface ExecutionOutcome {
  readonly status: Extract<ExecutionStatus, 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'running'>;
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
