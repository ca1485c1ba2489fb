import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { CdkCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type EventMessage, TOPICS } from '#shared/events/kafka';
import { notifyRunEnds, type RunNotification } from '#shared/events/run-notifier';
import {
  onTopicsEvent,
  TOPICS_RESOURCE_ID,
  type TopicsDeps,
} from '../../../functions/custom-resources/kafka-topics.ts';
import { eventMessages, snsAnnounce } from '../../../functions/events/run-notifier.ts';

const sns = mockClient(SNSClient);
afterEach(() => sns.reset());

const message = (over: Partial<EventMessage>): EventMessage => ({
  eventId: 'e-1',
  type: 'execution.succeeded',
  executionId: 'run-1',
  sequence: 7,
  time: '2026-11-29T12:00:00.000Z',
  payload: { costUsd: 0.000101 },
  ...over,
});

describe('run notifier (consumer group wflo-run-notifier)', () => {
  it('announces each run end once per batch, in order, and ignores every other event', async () => {
    // GIVEN a batch with steps, two run ends, and one end delivered twice (same event id)
    const batch = [
      message({ eventId: 's-1', type: 'step.succeeded' }),
      message({ eventId: 'e-1', type: 'execution.succeeded', executionId: 'run-1' }),
      message({ eventId: 'c-1', type: 'cost.recorded' }),
      message({ eventId: 'e-2', type: 'execution.budget_exceeded', executionId: 'run-2' }),
      message({ eventId: 'e-1', type: 'execution.succeeded', executionId: 'run-1' }),
      message({ eventId: 'x-1', type: 'execution.started', executionId: 'run-3' }),
    ];
    const announced: RunNotification[] = [];

    // WHEN the batch is handled
    const sent = await notifyRunEnds(async (n) => void announced.push(n), batch);

    // THEN two announcements, with subject, body and filterable attributes
    expect(sent).toBe(2);
    expect(announced.map((n) => n.attributes)).toEqual([
      { type: 'execution.succeeded', executionId: 'run-1', eventId: 'e-1' },
      { type: 'execution.budget_exceeded', executionId: 'run-2', eventId: 'e-2' },
    ]);
    expect(announced[0]!.subject).toBe('wflo run succeeded: run-1');
    expect(JSON.parse(announced[1]!.message)).toMatchObject({
      eventId: 'e-2',
      status: 'budget_exceeded',
      executionId: 'run-2',
      sequence: 7,
    });
  });

  it('fails the batch when an announcement fails (the event source retries it)', async () => {
    await expect(
      notifyRunEnds(async () => {
        throw new Error('sns down');
      }, [message({})]),
    ).rejects.toThrow('sns down');
  });

  it('publishes on SNS with the message attributes', async () => {
    // GIVEN SNS answering
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const topic = 'arn:aws:sns:eu-west-1:123456789012:wflo-dev-run-notifications';

    // WHEN one run end is announced
    await notifyRunEnds(snsAnnounce(new SNSClient({}), topic), [message({})]);

    // THEN one Publish to the topic
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toMatchObject({
      TopicArn: topic,
      Subject: 'wflo run succeeded: run-1',
      MessageAttributes: { eventId: { DataType: 'String', StringValue: 'e-1' } },
    });
  });

  it('reads the records Powertools decoded, and refuses one that is not a wflo event', () => {
    const records = (values: unknown[]) =>
      ({ records: values.map((value) => ({ value })) }) as unknown as Parameters<typeof eventMessages>[0];
    expect(eventMessages(records([message({})]))).toEqual([message({})]);
    expect(() => eventMessages(records([{ hello: 1 }]))).toThrow(/not a wflo event message/);
  });
});

describe('Kafka topics custom resource', () => {
  const event = (type: 'Create' | 'Update' | 'Delete') =>
    ({
      RequestType: type,
      PhysicalResourceId: 'old-id',
      ResourceProperties: {},
    }) as unknown as CdkCustomResourceEvent;
  const kafka = { brokers: ['b-1:9098'], auth: { kind: 'iam' as const, region: 'eu-west-1' } };

  it('creates the topics on Create and Update with the broker-default replication, one physical id', async () => {
    // GIVEN a fake topic creator
    const calls: { brokers: readonly string[]; replicas: number }[] = [];
    const deps: TopicsDeps = {
      config: async () => ({ kafka }),
      ensure: async (k, replicas) => {
        calls.push({ brokers: k.brokers, replicas });
        return calls.length === 1 ? TOPICS.map((t) => t.name) : [];
      },
    };

    // WHEN created, then updated
    const created = await onTopicsEvent(deps, event('Create'));
    const updated = await onTopicsEvent(deps, event('Update'));

    // THEN both ensure the topics; the second creates nothing (idempotent)
    expect(calls).toEqual([
      { brokers: ['b-1:9098'], replicas: -1 },
      { brokers: ['b-1:9098'], replicas: -1 },
    ]);
    expect(created).toEqual({
      PhysicalResourceId: TOPICS_RESOURCE_ID,
      Data: {
        Topics: 'wflo.execution-events,wflo.cost-events',
        Created: 'wflo.execution-events,wflo.cost-events',
      },
    });
    expect(updated.Data).toMatchObject({ Created: '' });
  });

  it('does nothing on Delete (topics outlive the resource)', async () => {
    let called = false;
    const result = await onTopicsEvent(
      {
        config: async () => ({ kafka }),
        ensure: async () => {
          called = true;
          return [];
        },
      },
      event('Delete'),
    );
    expect(called).toBe(false);
    expect(result).toEqual({ PhysicalResourceId: 'old-id' });
  });

  it('fails without KAFKA_BROKERS', async () => {
    await expect(
      onTopicsEvent({ config: async () => ({ kafka: undefined }), ensure: async () => [] }, event('Create')),
    ).rejects.toThrow(/KAFKA_BROKERS/);
  });
});
