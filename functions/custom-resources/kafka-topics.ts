import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import type { Config } from '#shared/config';
import { ConfigError } from '#shared/errors';
import { TOPICS } from '#shared/events/kafka';
import { ensureTopics } from '#shared/events/kafka-admin';
import type { KafkaSettings } from '#shared/events/kafka-client';
import { getConfig } from '#shared/wiring/config';

/** The one physical id: the topics are the cluster's, not per resource instance. */
export const TOPICS_RESOURCE_ID = 'wflo-kafka-topics';

/** MSK Serverless fixes the replication factor itself: ask for the broker default. */
const BROKER_DEFAULT_REPLICAS = -1;

/** What the handler needs; the tests pass a fake `ensure`. */
export interface TopicsDeps {
  readonly config: () => Promise<Pick<Config, 'kafka'>>;
  readonly ensure: (kafka: KafkaSettings, replicas: number) => Promise<string[]>;
}

/**
 * Create and Update create the project's topics where missing (idempotent: an existing topic is left as it
 * is); Delete does nothing, so removing the resource or the stack never deletes events consumers still read.
 */
export async function onTopicsEvent(
  deps: TopicsDeps,
  event: CdkCustomResourceEvent,
): Promise<CdkCustomResourceResponse> {
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  const { kafka } = await deps.config();
  if (!kafka) throw new ConfigError('invalid configuration: KAFKA_BROKERS: required by the topics resource');
  const created = await deps.ensure(kafka, BROKER_DEFAULT_REPLICAS);
  console.log(JSON.stringify({ level: 'INFO', message: 'kafka topics ensured', created }));
  return {
    PhysicalResourceId: TOPICS_RESOURCE_ID,
    Data: { Topics: TOPICS.map((t) => t.name).join(','), Created: created.join(',') },
  };
}

/**
 * Deploy-time custom resource (CDK Provider framework onEvent handler) that creates the Kafka topics on MSK
 * Serverless, which has no CloudFormation topic resource. Runs in the VPC with IAM SASL (OAUTHBEARER).
 */
export const handler = (event: CdkCustomResourceEvent) =>
  onTopicsEvent({ config: getConfig, ensure: ensureTopics }, event);
