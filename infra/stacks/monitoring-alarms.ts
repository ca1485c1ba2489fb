import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { type MonitoringFacade, multipleActions, SnsAlarmActionStrategy } from 'cdk-monitoring-constructs';

/**
 * Alarm tiers, each with its own SNS topic. Critical: users are affected now or soon and nothing heals it
 * on its own (page). Warning: something degrades or a safety net is doing its job (look within the working day).
 */
export const TIERS = ['Critical', 'Warning'] as const;
export type Tier = (typeof TIERS)[number];

/**
 * The sections of docs/runbook.md an alarm links to, one per kind of alarm (the anchor GitHub derives from
 * the section's heading). A test checks every synthesized alarm links to one that exists.
 */
export const RUNBOOK_ANCHORS = [
  'how-wflo-alarms-notify',
  'workflow-failed-executions',
  'workflow-timed-out-executions',
  'workflow-throttled-executions',
  'workflow-aborted-executions',
  'activity-errors',
  'activity-throttles',
  'activity-latency',
  'api-5xx-errors',
  'api-latency',
  'status-projector-dead-letters',
  'status-change-backlog',
  'status-projector-errors',
  'reconciler-errors',
  'executions-reconciled',
  'approval-sweeper-errors',
  'aurora-capacity',
  'aurora-cpu',
  'valkey-throttling',
  'valkey-latency',
  'llm-cost-per-hour',
  'budget-exceeded',
  'relay-lag',
  'relay-errors',
  'consumer-lag',
  'run-notifier-errors',
] as const;
export type RunbookAnchor = (typeof RUNBOOK_ANCHORS)[number];

/** Where alarm descriptions point when no published runbook URL is given. */
export const RUNBOOK_PATH = 'docs/runbook.md';

/** The custom tag that groups one source's alarms of one tier under their composite. */
export const tagOf = (source: string, tier: Tier) => `${source}/${tier}`;

/** One alarm of `source` in `tier`, linking to its runbook section: `{ [tier]: threshold + tag + link }`. */
export type AlarmOf = <T extends object>(
  source: string,
  tier: Tier,
  anchor: RunbookAnchor,
  threshold: T,
) => Record<string, T>;

/** The tiers' SNS topics, encrypted with a key CloudWatch may use, each mailing `alarmEmail` when given. */
export function createAlarmTopics(
  scope: Stack,
  prefix: string,
  alarmEmail: string | undefined,
): Record<Tier, sns.Topic> {
  // CloudWatch can publish to an encrypted topic only with a customer-managed key that trusts it.
  const topicKey = new kms.Key(scope, 'AlarmTopicKey', {
    description: `${prefix}: encrypts the alarm topics`,
    enableKeyRotation: true,
    // Not the default plain RETAIN: a failed first create must delete what it made (issue 9).
    removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  });
  topicKey.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': scope.account } },
    }),
  );
  const topic = (tier: Tier) => {
    const t = new sns.Topic(scope, `${tier}AlarmTopic`, {
      topicName: `${prefix}-alarms-${tier.toLowerCase()}`,
      displayName: `wflo ${prefix} ${tier.toLowerCase()} alarms`,
      masterKey: topicKey,
      enforceSSL: true,
    });
    if (alarmEmail) t.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
    return t;
  };
  return { Critical: topic('Critical'), Warning: topic('Warning') };
}

/** What {@link addComposites} needs: the sources' tiers, the topics, and an optional external topic. */
export interface CompositeProps {
  readonly prefix: string;
  readonly runbook: string;
  /** Source → the tiers it has alarms in. */
  readonly sources: ReadonlyMap<string, ReadonlySet<Tier>>;
  readonly topics: Readonly<Record<Tier, sns.ITopic>>;
  /** Notified by every composite besides its tier's topic. */
  readonly external: sns.ITopic | undefined;
}

/**
 * One composite alarm per source and tier (its children are the alarms tagged with both), notifying that
 * tier's topic. Call after every child exists. Returns the composites' names in creation order.
 */
export function addComposites(
  f: MonitoringFacade,
  { prefix, runbook, sources, topics, external }: CompositeProps,
): { source: string; tier: Tier; alarmName: string }[] {
  const made: { source: string; tier: Tier; alarmName: string }[] = [];
  for (const [source, tiers] of sources) {
    for (const tier of TIERS) {
      if (!tiers.has(tier)) continue;
      const alarmName = `${prefix}-${source}-${tier}`;
      f.createCompositeAlarmUsingTag(tagOf(source, tier), {
        alarmNameOverride: alarmName,
        alarmDescription: `wflo ${prefix}: a ${tier.toLowerCase()} alarm of ${source} is in ALARM. Open this alarm's rule to see which child fired; each child links to its runbook section.`,
        runbookLink: `${runbook}#how-wflo-alarms-notify`,
        disambiguator: tier,
        actionOverride: external
          ? multipleActions(
              new SnsAlarmActionStrategy({ onAlarmTopic: topics[tier], onOkTopic: topics[tier] }),
              new SnsAlarmActionStrategy({ onAlarmTopic: external, onOkTopic: external }),
            )
          : new SnsAlarmActionStrategy({ onAlarmTopic: topics[tier], onOkTopic: topics[tier] }),
      });
      made.push({ source, tier, alarmName });
    }
  }
  return made;
}
