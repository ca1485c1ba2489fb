import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { ValidationError } from '#shared/errors';
import { logger } from '#shared/observability';
import { getStore } from '#shared/wiring/store';
import { type ExecutionEnd, projectExecutionEnd } from './projector.ts';

const sfn = new SFNClient({});

/** The part of EventBridge's "Step Functions Execution Status Change" event the projector reads. */
const StatusChangeSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string().optional(),
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
export function endOfStatusChange(
  event: unknown,
): { executionId: string; executionArn: string | undefined; end: ExecutionEnd } | undefined {
  const parsed = StatusChangeSchema.safeParse(event);
  if (!parsed.success) throw new ValidationError('not a Step Functions execution status change event');
  const { name, status, output, error, cause, executionArn } = parsed.data.detail;
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
    executionArn,
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
  const store = await getStore();
  if (!(await store.getExecution(change.executionId))) {
    logger.warn('status change for an execution wflo does not know', { executionId: change.executionId });
    return;
  }
  const transitions = change.executionArn ? await countStateTransitions(sfn, change.executionArn) : undefined;
  await projectExecutionEnd(store, change.executionId, change.end, transitions);
};

/**
 * The state transitions Step Functions Standard bills for an execution: one per state entered (Map and
 * Parallel iterations included), counted from its history, page by page.
 */
export async function countStateTransitions(
  client: Pick<SFNClient, 'send'>,
  executionArn: string,
): Promise<number> {
  let count = 0;
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new GetExecutionHistoryCommand({
        executionArn,
        maxResults: 1000,
        includeExecutionData: false,
        nextToken,
      }),
    );
    for (const e of page.events ?? []) if (e.type?.endsWith('StateEntered')) count++;
    nextToken = page.nextToken;
  } while (nextToken);
  return count;
}
