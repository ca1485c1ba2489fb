import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '#shared/events/kafka';
import {
  actionsOf,
  logicalId,
  nagFindings,
  resourcesOf,
  resourcesOfType,
  type SynthesizedWflo,
  statementsOfRole,
  synthWflo,
} from './helpers.ts';

/** The outbox on MSK (`-c kafka=true`): relay Lambda, topics custom resource, the run notifier's ESM. */
let w: SynthesizedWflo;
beforeAll(() => {
  w = synthWflo({ kafka: 'true' });
}, 300_000);
afterAll(() => w?.cleanup());

/** The kafka-cluster actions of a role, with the resource each names (as JSON, tokens included). */
function kafkaGrants(stack: 'data' | 'orchestration', role: string): { action: string; resource: string }[] {
  return statementsOfRole(w.json[stack], role).flatMap((s) =>
    actionsOf(s)
      .filter((a) => a.startsWith('kafka-cluster:'))
      .flatMap((action) => resourcesOf(s).map((r) => ({ action, resource: JSON.stringify(r) }))),
  );
}

describe('GIVEN kafka=true WHEN synthesized', () => {
  it('THEN the relay is a Lambda in the VPC with reserved concurrency 1, started every minute', () => {
    const relay = w.stacks.orchestration.relay!;
    const id = logicalId(relay.function);
    const fn = w.json.orchestration.Resources[id]!;
    expect(fn.Properties).toMatchObject({
      ReservedConcurrentExecutions: 1,
      Timeout: 75,
      VpcConfig: { SubnetIds: expect.any(Array), SecurityGroupIds: expect.any(Array) },
      Environment: {
        Variables: expect.objectContaining({ KAFKA_AUTH: 'iam', KAFKA_BROKERS: expect.anything() }),
      },
    });
    w.templates.orchestration.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [id, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }),
      ],
    });
  });

  it('THEN the relay may connect, write idempotently and write to exactly the two topics (no create, no read)', () => {
    const grants = kafkaGrants('orchestration', logicalId(w.stacks.orchestration.relay!.role));
    expect(grants.map((g) => g.action).sort()).toEqual([
      'kafka-cluster:Connect',
      'kafka-cluster:DescribeCluster',
      'kafka-cluster:DescribeTopic',
      'kafka-cluster:DescribeTopic',
      'kafka-cluster:WriteData',
      'kafka-cluster:WriteData',
      'kafka-cluster:WriteDataIdempotently',
    ]);
    for (const g of grants.filter((x) => x.action.endsWith('Topic') || x.action.endsWith('WriteData'))) {
      expect(g.resource).toMatch(/:topic\//);
      expect(TOPICS.some((t) => g.resource.includes(`/${t.name}"`))).toBe(true);
    }
    expect(grants.every((g) => !g.resource.includes('*'))).toBe(true);
  });

  it('THEN a custom resource in the VPC creates the topics, with CreateTopic on those topics only', () => {
    const k = w.stacks.data.kafka!;
    w.templates.data.hasResourceProperties('Custom::WfloKafkaTopics', {
      Topics: TOPICS.map((t) => `${t.name}:${t.partitions}`).join(','),
    });
    const fn = w.json.data.Resources[logicalId(k.topicsFunction.function)]!;
    expect(fn.Properties).toMatchObject({
      VpcConfig: expect.anything(),
      Environment: { Variables: expect.objectContaining({ KAFKA_AUTH: 'iam' }) },
    });
    const grants = kafkaGrants('data', logicalId(k.topicsFunction.role));
    expect(grants.filter((g) => g.action === 'kafka-cluster:CreateTopic')).toHaveLength(TOPICS.length);
    expect(grants.map((g) => g.action)).not.toContain('kafka-cluster:WriteData');
  });

  it('THEN the run notifier reads wflo.execution-events through an MSK event-source mapping in its own group', () => {
    const o = w.stacks.orchestration;
    const fnId = logicalId(o.runNotifier!.function);
    w.templates.orchestration.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId },
      Topics: ['wflo.execution-events'],
      StartingPosition: 'TRIM_HORIZON',
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'wflo-run-notifier' },
    });
    const grants = kafkaGrants('orchestration', logicalId(o.runNotifier!.role));
    const group = grants.filter((g) => g.action.endsWith('Group'));
    expect(group.map((g) => g.action).sort()).toEqual([
      'kafka-cluster:AlterGroup',
      'kafka-cluster:DescribeGroup',
    ]);
    for (const g of group) expect(g.resource).toMatch(/:group\/.*\/wflo-run-notifier"/);
    const read = grants.filter((g) => g.action === 'kafka-cluster:ReadData');
    expect(read).toHaveLength(1);
    expect(read[0]!.resource).toContain('/wflo.execution-events"');
    expect(grants.map((g) => g.action)).not.toContain('kafka-cluster:WriteData');
  });

  it('THEN the cluster lets its event pollers in (9098 from itself) and out to Lambda and STS (443)', () => {
    const sg = logicalId(w.stacks.data.kafka!.securityGroup);
    w.templates.data.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [sg, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [sg, 'GroupId'] },
      FromPort: 9098,
    });
    const egress = resourcesOfType(w.json.data, 'AWS::EC2::SecurityGroupEgress').map(([, r]) => r.Properties);
    const inline = (w.json.data.Resources[sg]!.Properties?.SecurityGroupEgress ?? []) as unknown[];
    expect(JSON.stringify([...egress, ...inline])).toContain('"FromPort":443');
  });

  it('THEN cdk-nag has no unacknowledged finding', () => {
    expect(nagFindings(w.app).map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
  });
});
