import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { TaskCallbackError } from '../errors.ts';
import { TASK_CALLBACK_ERRORS, type TaskCallbacks } from '../ports/task-callbacks.ts';

/** Step Functions caps `error` at 256 and `cause` at 32,768 characters. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

function mapped(error: unknown): unknown {
  const name = (error as { name?: unknown })?.name;
  const reason = TASK_CALLBACK_ERRORS.find((n) => n === name);
  if (!reason) return error;
  return new TaskCallbackError(reason, `Step Functions refused the callback: ${reason}`, { cause: error });
}

/**
 * Task callbacks on Step Functions: SendTaskSuccess (output as JSON) and SendTaskFailure. The engine's
 * refusals (TaskDoesNotExist, TaskTimedOut, InvalidToken) become {@link TaskCallbackError}; anything else
 * (throttling, access) is rethrown as the SDK raised it.
 */
export function sfnTaskCallbacks(client: Pick<SFNClient, 'send'>): TaskCallbacks {
  return {
    async sendTaskSuccess(taskToken, output) {
      try {
        await client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output ?? null) }));
      } catch (error) {
        throw mapped(error);
      }
    },
    async sendTaskFailure(taskToken, error, cause) {
      try {
        await client.send(
          new SendTaskFailureCommand({
            taskToken,
            error: error.slice(0, MAX_ERROR),
            cause: cause.slice(0, MAX_CAUSE),
          }),
        );
      } catch (e) {
        throw mapped(e);
      }
    },
  };
}
