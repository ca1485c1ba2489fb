import type { TaskCallbackError } from '../errors.ts';

/**
 * Resumes a Task waiting on `.waitForTaskToken`. Adapters: Step Functions SendTaskSuccess/SendTaskFailure on
 * AWS (`adapters/sfn-task-callbacks.ts`); the embedded engine locally (its orchestrator implements this).
 * Both fail with {@link TaskCallbackError} whose `reason` is the engine's error name (`TaskDoesNotExist`,
 * `TaskTimedOut`, `InvalidToken`, `InvalidOutput`), so callers map them to answers once.
 */
export interface TaskCallbacks {
  sendTaskSuccess(taskToken: string, output: unknown): Promise<void>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
}

/** {@link TaskCallbacks} plus SendTaskHeartbeat: what the `/task-tokens` API routes need. */
export interface TaskTokenCallbacks extends TaskCallbacks {
  /** Resets the Task's HeartbeatSeconds clock; refused as SendTaskHeartbeat refuses a closed or unknown token. */
  sendTaskHeartbeat(taskToken: string): Promise<void>;
}

/** The engine error names a callback may fail with, as {@link TaskCallbackError}'s `reason`. */
export const TASK_CALLBACK_ERRORS = [
  'TaskDoesNotExist',
  'TaskTimedOut',
  'InvalidToken',
  'InvalidOutput',
] as const;

/** SendTaskSuccess's limit on `output`: 256 KiB of UTF-8 JSON. */
export const MAX_TASK_OUTPUT_BYTES = 256 * 1024;

/** Step Functions caps SendTaskFailure's `error` at 256 and `cause` at 32,768 characters. */
export const MAX_TASK_ERROR_CHARS = 256;
export const MAX_TASK_CAUSE_CHARS = 32_768;

/**
 * `output` as SendTaskSuccess sends it (JSON text), or null when it is not JSON (a bigint, a cycle, a bare
 * `undefined`) or is over {@link MAX_TASK_OUTPUT_BYTES}: the caller refuses it with `InvalidOutput`.
 */
export function taskOutputJson(output: unknown): string | null {
  let json: string | undefined;
  try {
    json = JSON.stringify(output);
  } catch {
    return null;
  }
  if (json === undefined || Buffer.byteLength(json, 'utf8') > MAX_TASK_OUTPUT_BYTES) return null;
  return json;
}
