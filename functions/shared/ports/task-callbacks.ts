import type { TaskCallbackError } from '../errors.ts';

/**
 * Resumes a Task waiting on `.waitForTaskToken`. Adapters: Step Functions SendTaskSuccess/SendTaskFailure on
 * AWS (`adapters/sfn-task-callbacks.ts`); the embedded engine locally (its orchestrator implements this).
 * Both fail with {@link TaskCallbackError} whose `reason` is the engine's error name (`TaskDoesNotExist`,
 * `TaskTimedOut`, `InvalidToken`), so callers map them to answers once.
 */
export interface TaskCallbacks {
  sendTaskSuccess(taskToken: string, output: unknown): Promise<void>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
}

/** The engine error names a callback may fail with, as {@link TaskCallbackError}'s `reason`. */
export const TASK_CALLBACK_ERRORS = ['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken'] as const;
