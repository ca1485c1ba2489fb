import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { ApprovalRow } from '../ports/approvals.ts';
import { getConfig } from './config.ts';

/*
 * Apart from ./approvals.ts on purpose: only the approval-request activity publishes, and a static import of
 * the SNS client costs every other importer of the approvals wiring (the API) its load at cold start.
 */

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
