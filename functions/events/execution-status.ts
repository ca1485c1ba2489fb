import { z } from 'zod';
import { ValidationError } from '#shared/errors';
import { logger } from '#shared/observability';
import { getRuntime } from '#shared/runtime';
import { type ExecutionEnd, projectExecutionEnd } from './projector.ts';

/** The part of EventBridge's "Step Functions Execution Status Change" event the projector reads. */
const StatusChangeSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    name: z.string().min(1),
    status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']),
    output: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

const STATUS: Record<string, ExecutionEnd['status'] | undefined> = {
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  TIMED_OUT: 'timed_out',
  ABORTED: 'cancelled',
};

/** Maps a status-change event to the end it reports; undefined for non-terminal statuses. */
export function endOfStatusChange(event: unknown): { executionId: string; end: ExecutionEnd } | undefined {
  const parsed = StatusChangeSchema.safeParse(event);
  if (!parsed.success) throw new ValidationError('not a Step Functions execution status change event');
  const { name, status, output, error, cause } = parsed.data.detail;
  const mapped = STATUS[status];
  if (!mapped) return undefined;
  let parsedOutput: unknown = null;
  if (output) {
    try {
      parsedOutput = JSON.parse(output);
    } catch {
      parsedOutput = output;
    }
  }
  return {
    executionId: name,
    end: {
      status: mapped,
      output: parsedOutput,
      error: mapped === 'succeeded' ? undefined : { error: error ?? status, cause: cause ?? '' },
    },
  };
}

/**
 * Lambda for the EventBridge rule on Step Functions status changes: records how runs ended that did not
 * record it themselves (failed outside a Catch, timed out, aborted). Rows a workflow finished stay as they are.
 */
export const handler = async (event: unknown): Promise<void> => {
  const change = endOfStatusChange(event);
  if (!change) return;
  const { store } = await getRuntime();
  if (!(await store.getExecution(change.executionId))) {
    logger.warn('status change for an execution wflo does not know', { executionId: change.executionId });
    return;
  }
  await projectExecutionEnd(store, change.executionId, change.end);
};
