import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { ValidationError } from '#shared/errors';
import { type ExecutionEnd, executionEndOf, projectExecutionEnd } from '#shared/execution-end';
import { logger } from '#shared/observability';
import type { Store } from '#shared/ports/store';
import { getStore } from '#shared/wiring/store';

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

/** Maps a status-change event to the end it reports; undefined for non-terminal statuses. */
export function endOfStatusChange(
  event: unknown,
): { executionId: string; executionArn: string | undefined; end: ExecutionEnd } | undefined {
  const parsed = StatusChangeSchema.safeParse(event);
  if (!parsed.success) throw new ValidationError('not a Step Functions execution status change event');
  const { name, executionArn } = parsed.data.detail;
  const end = executionEndOf(parsed.data.detail);
  return end ? { executionId: name, executionArn, end } : undefined;
}

/**
 * Records how a run ended from one status-change event, when the run did not record it itself (failed
 * outside a Catch, timed out, aborted), and charges its state transitions. Rows a workflow finished stay
 * as they are; events for executions wflo does not know are logged and skipped.
 */
export async function projectStatusChange(
  store: Store,
  client: Pick<SFNClient, 'send'>,
  event: unknown,
): Promise<void> {
  const change = endOfStatusChange(event);
  if (!change) return;
  if (!(await store.getExecution(change.executionId))) {
    logger.warn('status change for an execution wflo does not know', { executionId: change.executionId });
    return;
  }
  const transitions = change.executionArn
    ? await countStateTransitions(client, change.executionArn)
    : undefined;
  await projectExecutionEnd(store, change.executionId, change.end, transitions);
}

/**
 * Lambda behind the status-change queue (EventBridge rule → SQS → here). Each message that fails is reported
 * back alone (partial batch response), so SQS redelivers only it and, after the queue's maxReceiveCount,
 * moves it to the dead-letter queue, which is alarmed on: no end is dropped silently.
 */
export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const store = await getStore();
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    try {
      await projectStatusChange(store, sfn, JSON.parse(record.body));
    } catch (error) {
      logger.error('status change not projected; SQS will redeliver it', {
        messageId: record.messageId,
        error: error as Error,
      });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
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
