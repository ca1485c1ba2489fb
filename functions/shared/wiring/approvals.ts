import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { createApprovals } from '../approvals/create-approvals.ts';
import type { ApprovalRow, ApprovalStore } from '../ports/approvals.ts';
import { getConfig } from './config.ts';
import { lazyPart } from './lazy.ts';
import { getLambdaDb } from './store.ts';

/**
 * The process's approvals: the DynamoDB table with its Aurora audit copy on Lambda (APPROVALS_TABLE), the
 * store's table without one, or the installed runtime's.
 */
export const getApprovals: () => Promise<ApprovalStore> = lazyPart(
  (rt) => rt.approvals,
  async () => createApprovals(await getConfig(), (await getLambdaDb()).db),
);

/**
 * Publishes an approval request on an SNS topic (subscribers are the user's choice: e-mail, chat, a queue).
 * The message names the approval, what is asked and until when; never the task token.
 */
export function snsNotifier(client: Pick<SNSClient, 'send'>, topicArn: string) {
  return async (approval: ApprovalRow): Promise<void> => {
    const prompt = approval.prompt as { title: string; summary?: string; link?: string };
    await client.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: `wflo approval: ${prompt.title}`.slice(0, 100),
        Message: JSON.stringify({
          type: 'approval.requested',
          approvalId: approval.id,
          executionId: approval.executionId,
          stateName: approval.stateName,
          title: prompt.title,
          summary: prompt.summary ?? null,
          link: prompt.link ?? null,
          expiresAt: approval.expiresAt?.toISOString() ?? null,
        }),
        MessageAttributes: { type: { DataType: 'String', StringValue: 'approval.requested' } },
      }),
    );
  };
}

let sns: SNSClient | undefined;

/** The notifier the config selects: SNS when APPROVALS_TOPIC_ARN is set (AWS), none otherwise. */
export async function getApprovalNotifier(): Promise<((approval: ApprovalRow) => Promise<void>) | undefined> {
  const { topicArn } = (await getConfig()).approvals;
  if (!topicArn) return undefined;
  sns ??= new SNSClient({});
  return snsNotifier(sns, topicArn);
}
