import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import {
  DefaultDashboardFactory,
  MetricStatistic,
  MonitoringFacade,
  noopAction,
} from 'cdk-monitoring-constructs';
import type { Construct } from 'constructs';
import { METRICS, METRICS_NAMESPACE, SERVICE_NAME } from '../../functions/shared/contracts/metrics.ts';
import { TOPIC_NAMES } from '../constructs/kafka-events.ts';
import { MskServerlessMonitoring } from '../constructs/msk-serverless-monitoring.ts';
import type { WfloFunction } from '../constructs/wflo-function.ts';
import type { WorkflowStateMachine } from '../constructs/workflow-state-machine.ts';
import { API_STAGE } from './api-stack.ts';
import type { DataStack } from './data-stack.ts';
import {
  type AlarmOf,
  addComposites,
  createAlarmTopics,
  RUNBOOK_PATH,
  TIERS,
  type Tier,
  tagOf,
} from './monitoring-alarms.ts';
import { addBusinessSegment } from './monitoring-business.ts';

/** The relay-lag alarm: events older than this wait in the outbox for five minutes in a row. */
export const RELAY_LAG_ALARM_SECONDS = 120;
/** The consumer-lag alarm: the consumer group this far behind for five minutes in a row. */
export const CONSUMER_LAG_ALARM_SECONDS = 300;

export interface StatusProjectionResources {
  /** Status-change events on their way to the projector. */
  readonly queue: sqs.IQueue;
  /** What the projector (or EventBridge) could not deliver after its retries. */
  readonly deadLetters: sqs.IQueue;
  readonly projector: WfloFunction;
  readonly reconciler: WfloFunction;
}

/** The outbox on Kafka (with MSK): the relay and one consumer group. */
export interface KafkaEventsResources {
  readonly relay: WfloFunction;
  readonly consumer: WfloFunction;
  /** The consumer's group (the consumer-lag alarm's `Consumer Group`). */
  readonly consumerGroup: string;
  /** The topic that group reads. */
  readonly consumerTopic: string;
}

export interface MonitoringStackProps extends StackProps {
  readonly prefix: string;
  /** Subscribed to both tiers' topics. */
  readonly alarmEmail: string | undefined;
  /** An existing SNS topic (e.g. the team's chat or pager integration) every composite also notifies. */
  readonly alarmTopicArn?: string | undefined;
  /** Aurora's maximum ACUs (the capacity alarm fires at 90 %). */
  readonly dbMaxCapacity: number;
  /** Alarm when LLM spend exceeds this many USD in one hour. */
  readonly costAlarmUsdPerHour: number;
  readonly workflows: ReadonlyMap<string, WorkflowStateMachine>;
  /** The activity functions, by activity id. */
  readonly activities: ReadonlyMap<string, WfloFunction>;
  readonly apiFunction: WfloFunction;
  /** Runs only during deploys (a failure fails the deploy): on the dashboard, never alarmed on. */
  readonly migrations: WfloFunction;
  readonly statusProjection: StatusProjectionResources;
  /** The scheduled approval expiry sweeper (functions/events/approval-sweeper.ts). */
  readonly approvalSweeper: WfloFunction;
  /** The relay and consumer, when the environment has MSK. */
  readonly kafkaEvents?: KafkaEventsResources;
  readonly api: apigw.RestApi;
  readonly data: DataStack;
  /** Published runbook (e.g. the repository's docs/runbook.md on the web). @default 'docs/runbook.md' */
  readonly runbookUrl?: string;
}

/**
 * Alarms and the dashboard, through the cdk-monitoring-constructs facade (alarm defaults in one place).
 * Every alarm has a tier and a source (a workflow, a function group, the API, a data store, the ledger); child
 * alarms have no action of their own, and one composite alarm per source and tier notifies that tier's topic.
 * docs/runbook.md explains each alarm and why composites are per source.
 */
export class MonitoringStack extends Stack {
  /** Tier → the topic its composites notify (Critical pages, Warning informs). */
  readonly topics: Readonly<Record<Tier, sns.Topic>>;
  readonly facade: MonitoringFacade;
  /** Composite alarm names, by source and tier, in creation order. */
  readonly composites: { source: string; tier: Tier; alarmName: string }[] = [];

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const { data } = props;
    const runbook = props.runbookUrl ?? RUNBOOK_PATH;
    this.topics = createAlarmTopics(this, props.prefix, props.alarmEmail);

    this.facade = new MonitoringFacade(this, 'Monitoring', {
      alarmFactoryDefaults: {
        alarmNamePrefix: props.prefix,
        actionsEnabled: true,
        // Children never notify; their source's composite does (see addComposites).
        action: noopAction(),
        datapointsToAlarm: 1,
        evaluationPeriods: 1,
        runbookLink: `${runbook}#how-wflo-alarms-notify`,
      },
      metricFactoryDefaults: { namespace: METRICS_NAMESPACE },
      dashboardFactory: new DefaultDashboardFactory(this, 'Dashboards', {
        dashboardNamePrefix: props.prefix,
        createDashboard: true,
        createSummaryDashboard: false,
        createAlarmDashboard: false,
      }),
    });
    const f = this.facade;
    const sources = new Map<string, Set<Tier>>();
    /** One alarm of `source` in `tier`, linking to its runbook section: `{ [tier]: threshold + tag + link }`. */
    const alarm: AlarmOf = (source, tier, anchor, threshold) => {
      if (!sources.has(source)) sources.set(source, new Set());
      sources.get(source)?.add(tier);
      return {
        [tier]: { ...threshold, customTags: [tagOf(source, tier)], runbookLink: `${runbook}#${anchor}` },
      };
    };

    f.addLargeHeader('wflo: workflows');
    for (const [name, wf] of props.workflows) {
      const source = `Workflow-${name}`;
      f.monitorStepFunction({
        stateMachine: wf.stateMachine,
        alarmFriendlyName: source,
        humanReadableName: `Workflow ${name}`,
        // A single failure can be one bad input or one run stopped by its budget (those end in a Fail state
        // too); more than two in five minutes is systemic. Aborts are user cancellations: warn on a burst only.
        addFailedExecutionCountAlarm: alarm(source, 'Critical', 'workflow-failed-executions', {
          maxErrorCount: 2,
        }),
        addTimedOutExecutionCountAlarm: alarm(source, 'Critical', 'workflow-timed-out-executions', {
          maxErrorCount: 0,
        }),
        addThrottledExecutionCountAlarm: alarm(source, 'Warning', 'workflow-throttled-executions', {
          maxErrorCount: 0,
        }),
        addAbortedExecutionCountAlarm: alarm(source, 'Warning', 'workflow-aborted-executions', {
          maxErrorCount: 5,
        }),
      });
    }

    f.addLargeHeader('wflo: activities');
    for (const [name, fn] of props.activities) {
      const timeout = fn.function.timeout ?? Duration.seconds(3);
      f.monitorLambdaFunction({
        lambdaFunction: fn.function,
        alarmFriendlyName: `Fn-${name}`,
        humanReadableName: `Activity ${name}`,
        addFaultCountAlarm: alarm('Activities', 'Critical', 'activity-errors', { maxErrorCount: 4 }),
        addThrottlesCountAlarm: alarm('Activities', 'Warning', 'activity-throttles', { maxErrorCount: 0 }),
        addLatencyP99Alarm: alarm('Activities', 'Warning', 'activity-latency', {
          maxLatency: Duration.millis(Math.round(timeout.toMilliseconds() * 0.8)),
          datapointsToAlarm: 3,
          evaluationPeriods: 3,
        }),
      });
    }

    f.addLargeHeader('wflo: API');
    // API Gateway's 5XX count includes the handler's errors and throttles (502/503), so the function itself
    // is on the dashboard only: one alarm per symptom, not one per layer.
    f.monitorApiGateway({
      api: props.api,
      apiStage: API_STAGE,
      alarmFriendlyName: 'Api',
      add5XXFaultCountAlarm: alarm('Api', 'Critical', 'api-5xx-errors', { maxErrorCount: 4 }),
      addLatencyP99Alarm: alarm('Api', 'Warning', 'api-latency', {
        maxLatency: Duration.seconds(5),
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    f.monitorLambdaFunction({
      lambdaFunction: props.apiFunction.function,
      alarmFriendlyName: 'Fn-api',
      humanReadableName: 'Function api',
    });

    f.addLargeHeader('wflo: status projection');
    const sp = props.statusProjection;
    f.monitorSqsQueueWithDlq({
      queue: sp.queue,
      deadLetterQueue: sp.deadLetters,
      alarmFriendlyName: 'StatusChanges',
      humanReadableName: 'Status changes → projector',
      // A message here was retried five times (or never delivered): a run's end is not recorded until redriven.
      addDeadLetterQueueMaxSizeAlarm: alarm('StatusProjection', 'Warning', 'status-projector-dead-letters', {
        maxMessageCount: 0,
      }),
      addQueueMaxMessageAgeAlarm: alarm('StatusProjection', 'Warning', 'status-change-backlog', {
        maxAgeInSeconds: 15 * 60,
      }),
    });
    // Item failures are reported to SQS, not raised: this counts only invocations that failed as a whole.
    f.monitorLambdaFunction({
      lambdaFunction: sp.projector.function,
      alarmFriendlyName: 'Fn-status-projector',
      humanReadableName: 'Function status-projector',
      addFaultCountAlarm: alarm('StatusProjection', 'Warning', 'status-projector-errors', {
        maxErrorCount: 4,
      }),
    });
    // Three failed runs in a row (15 minutes): nothing now heals runs whose end the projector missed.
    f.monitorLambdaFunction({
      lambdaFunction: sp.reconciler.function,
      alarmFriendlyName: 'Fn-reconciler',
      humanReadableName: 'Function reconciler',
      addFaultCountAlarm: alarm('StatusProjection', 'Critical', 'reconciler-errors', {
        maxErrorCount: 0,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    // The reconciler's own metric: runs whose end it recorded because the projector had not.
    f.monitorCustom({
      alarmFriendlyName: 'StatusProjection',
      humanReadableName: 'Runs reconciled',
      metricGroups: [
        {
          title: 'Runs whose end the projector missed (reconciled)',
          metrics: [
            {
              metric: f
                .createMetricFactory()
                .createMetric(
                  METRICS.ExecutionsReconciled,
                  MetricStatistic.SUM,
                  'executions reconciled',
                  { service: SERVICE_NAME },
                  undefined,
                  METRICS_NAMESPACE,
                ),
              alarmFriendlyName: 'ExecutionsReconciled',
              addAlarm: alarm('StatusProjection', 'Warning', 'executions-reconciled', {
                threshold: 0,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                // A quiet period publishes nothing; the custom alarm reads the override, not treatMissingData.
                treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                period: Duration.minutes(15),
                additionalDescription: 'The reconciler recorded the end of runs the status projector missed.',
              }),
            },
          ],
        },
      ],
    });
    // Three failed five-minute periods in a row: expired approvals stay `pending` in their records (the Task
    // still times out, and a read or decision records the expiry), and no approval.expired event goes out.
    f.monitorLambdaFunction({
      lambdaFunction: props.approvalSweeper.function,
      alarmFriendlyName: 'Fn-approval-sweeper',
      humanReadableName: 'Function approval-sweeper',
      addFaultCountAlarm: alarm('Approvals', 'Warning', 'approval-sweeper-errors', {
        maxErrorCount: 0,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    f.monitorLambdaFunction({
      lambdaFunction: props.migrations.function,
      alarmFriendlyName: 'Fn-migrations',
      humanReadableName: 'Function migrations (deploy time)',
    });

    f.addLargeHeader('wflo: data');
    f.monitorAuroraCluster({
      cluster: data.cluster,
      alarmFriendlyName: 'Aurora',
      addCpuUsageAlarm: alarm('Database', 'Warning', 'aurora-cpu', {
        maxUsagePercent: 90,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
      addMaxServerlessDatabaseCapacityAlarm: alarm('Database', 'Critical', 'aurora-capacity', {
        maxUsageCount: props.dbMaxCapacity * 0.9,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    // The cache fails open (a slow or throttled cache only costs cache hits): warnings, never pages.
    f.monitorServerlessElastiCache({
      clusterId: data.cache.cacheName,
      alarmFriendlyName: 'Valkey',
      addThrottleRateAlarm: alarm('Cache', 'Warning', 'valkey-throttling', {
        maxThrottleRatePercent: 1,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
      addTM99SuccessfulReadRequestLatencyAlarm: alarm('Cache', 'Warning', 'valkey-latency', {
        maxLatency: Duration.millis(20),
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    if (data.kafka && props.kafkaEvents) {
      this.kafkaEventsSegment(f, data.kafka.cluster.clusterName, props.kafkaEvents, alarm);
    }

    addBusinessSegment(f, props.costAlarmUsdPerHour, alarm);

    new CfnOutput(this, 'DashboardUrl', {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${props.prefix}`,
      description: 'The wflo CloudWatch dashboard',
    });
    for (const tier of TIERS) {
      new CfnOutput(this, `${tier}AlarmTopicArn`, {
        value: this.topics[tier].topicArn,
        description:
          tier === 'Critical'
            ? 'Where critical composite alarms notify: subscribe the pager (PagerDuty, Incident Manager, chat) here'
            : 'Where warning composite alarms notify',
      });
    }
    // One composite per source and tier, after every child exists.
    this.composites.push(
      ...addComposites(f, {
        prefix: props.prefix,
        runbook,
        sources,
        topics: this.topics,
        external: props.alarmTopicArn
          ? sns.Topic.fromTopicArn(this, 'ExternalAlarmTopic', props.alarmTopicArn)
          : undefined,
      }),
    );
  }

  /**
   * The outbox on Kafka: relay lag (the age of the oldest unsent outbox row, which the relay publishes every
   * run; missing data alarms too, since a relay that does not run reports nothing), relay and consumer
   * failures, the consumer group's lag (MSK's EstimatedMaxTimeLag), and the topics' throughput.
   */
  private kafkaEventsSegment(
    f: MonitoringFacade,
    clusterName: string,
    k: KafkaEventsResources,
    alarm: AlarmOf,
  ): void {
    f.addLargeHeader('wflo: events (outbox → MSK)');
    const metrics = f.createMetricFactory();
    f.monitorCustom({
      alarmFriendlyName: 'RelayLag',
      humanReadableName: 'Outbox relay lag',
      metricGroups: [
        {
          title: 'Oldest unsent outbox row (s)',
          metrics: [
            {
              metric: metrics.createMetric(
                METRICS.OutboxOldestUnsentAge,
                MetricStatistic.MAX,
                'oldest unsent (s)',
                { service: SERVICE_NAME },
                undefined,
                METRICS_NAMESPACE,
              ),
              alarmFriendlyName: 'OutboxOldestUnsentAge',
              addAlarm: alarm('Events', 'Critical', 'relay-lag', {
                threshold: RELAY_LAG_ALARM_SECONDS,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingDataOverride: TreatMissingData.BREACHING,
                period: Duration.minutes(1),
                datapointsToAlarm: 5,
                evaluationPeriods: 5,
                additionalDescription:
                  'Events wait in the outbox: the relay is failing, not running, or cannot keep up.',
              }),
            },
          ],
        },
      ],
    });
    f.monitorLambdaFunction({
      lambdaFunction: k.relay.function,
      alarmFriendlyName: 'Fn-outbox-relay',
      humanReadableName: 'Function outbox-relay',
      addFaultCountAlarm: alarm('Events', 'Warning', 'relay-errors', {
        maxErrorCount: 0,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    f.monitorCustom({
      alarmFriendlyName: 'ConsumerLag',
      humanReadableName: `Consumer group ${k.consumerGroup}`,
      metricGroups: [
        {
          title: `Consumer lag: ${k.consumerGroup} on ${k.consumerTopic} (s)`,
          metrics: [
            {
              metric: metrics.createMetric(
                'EstimatedMaxTimeLag',
                MetricStatistic.MAX,
                'estimated max time lag (s)',
                { 'Cluster Name': clusterName, 'Consumer Group': k.consumerGroup, Topic: k.consumerTopic },
                undefined,
                'AWS/Kafka',
              ),
              alarmFriendlyName: 'ConsumerLag',
              addAlarm: alarm('Events', 'Warning', 'consumer-lag', {
                threshold: CONSUMER_LAG_ALARM_SECONDS,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                period: Duration.minutes(1),
                datapointsToAlarm: 5,
                evaluationPeriods: 5,
                additionalDescription: `The ${k.consumerGroup} consumer group falls behind its topic.`,
              }),
            },
          ],
        },
      ],
    });
    f.monitorLambdaFunction({
      lambdaFunction: k.consumer.function,
      alarmFriendlyName: 'Fn-run-notifier',
      humanReadableName: 'Function run-notifier',
      addFaultCountAlarm: alarm('Events', 'Warning', 'run-notifier-errors', {
        maxErrorCount: 0,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    for (const topic of TOPIC_NAMES) f.addSegment(new MskServerlessMonitoring(f, { clusterName, topic }));
  }
}
