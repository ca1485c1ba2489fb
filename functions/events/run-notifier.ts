import { kafkaConsumer, SchemaType } from '@aws-lambda-powertools/kafka';
import type { ConsumerRecords } from '@aws-lambda-powertools/kafka/types';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { METRICS } from '#shared/contracts/metrics';
import { ConfigError } from '#shared/errors';
import { type EventMessage, parseEventMessage } from '#shared/events/kafka';
import { type Announce, notifyRunEnds } from '#shared/events/run-notifier';
import { logger, metrics } from '#shared/observability';
import { getConfig } from '#shared/wiring/config';

const sns = new SNSClient({});

/** Publishes one announcement on the run-notifications topic. */
export function snsAnnounce(client: Pick<SNSClient, 'send'>, topicArn: string): Announce {
  return async (n) => {
    await client.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: n.subject,
        Message: n.message,
        MessageAttributes: Object.fromEntries(
          Object.entries(n.attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
        ),
      }),
    );
  };
}

/** The records of one MSK batch as wflo event messages, in partition order (what the ESM delivers). */
export function eventMessages(event: ConsumerRecords<string, unknown>): EventMessage[] {
  return event.records.map((r) => parseEventMessage(r.value));
}

/**
 * Lambda behind an MSK event-source mapping (consumer group `wflo-run-notifier`, topic
 * `wflo.execution-events`): announces every run's end on the run-notifications SNS topic. Records are parsed by
 * Powertools' Kafka consumer (base64 → JSON); a failed publish fails the batch, which Lambda retries.
 */
export const handler = kafkaConsumer<string, unknown>(
  async (event) => {
    const config = await getConfig();
    const topicArn = config.runNotificationsTopicArn;
    if (!topicArn) throw new ConfigError('invalid configuration: RUN_NOTIFICATIONS_TOPIC_ARN: required');
    const messages = eventMessages(event);
    const sent = await notifyRunEnds(snsAnnounce(sns, topicArn), messages);
    logger.info('announced run ends', { records: messages.length, sent });
    metrics.addMetric(METRICS.RunNotificationsSent, MetricUnit.Count, sent);
    metrics.publishStoredMetrics();
    return { records: messages.length, sent };
  },
  { value: { type: SchemaType.JSON } },
);
