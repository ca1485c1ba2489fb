import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { TaskCallbackError } from '../errors.ts';
import {
  MAX_TASK_CAUSE_CHARS,
  MAX_TASK_ERROR_CHARS,
  TASK_CALLBACK_ERRORS,
  type TaskTokenCallbacks,
  taskOutputJson,
} from '../ports/task-callbacks.ts';

function mapped(error: unknown): unknown {
  const name = (error as { name?: unknown })?.name;
  const reason = TASK_CALLBACK_ERRORS.find((n) => n === name);
  if (!reason) return error;
  return new TaskCallbackError(reason, `Step Functions refused the callback: ${reason}`, { cause: error });
}

/**
 * Task callbacks on Step Functions: SendTaskSuccess (output as JSON), SendTaskFailure and SendTaskHeartbeat.
 * The engine's refusals (TaskDoesNotExist, TaskTimedOut, InvalidToken, InvalidOutput) become
 * {@link TaskCallbackError}; anything else (throttling, access) is rethrown as the SDK raised it. Output that
 * is not JSON or is over 256 KiB is refused here as `InvalidOutput`, without a call.
 */
export function sfnTaskCallbacks(client: Pick<SFNClient, 'send'>): TaskTokenCallbacks {
  return {
    async sendTaskSuccess(taskToken, output) {
      const json = taskOutputJson(output ?? null);
      if (json === null) {
        throw new TaskCallbackError('InvalidOutput', 'the output is not JSON or exceeds 256 KiB');
      }
      try {
        await client.send(new SendTaskSuccessCommand({ taskToken, output: json }));
      } catch (error) {
        throw mapped(error);
      }
    },
    async sendTaskFailure(taskToken, error, cause) {
      try {
        await client.send(
          new SendTaskFailureCommand({
            taskToken,
            error: error.slice(0, MAX_TASK_ERROR_CHARS),
            cause: cause.slice(0, MAX_TASK_CAUSE_CHARS),
          }),
        );
      } catch (e) {
        throw mapped(e);
      }
    },
    async sendTaskHeartbeat(taskToken) {
      try {
        await client.send(new SendTaskHeartbeatCommand({ taskToken }));
      } catch (e) {
        throw mapped(e);
      }
    },
  };
}
