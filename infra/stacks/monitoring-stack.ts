import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import {
  DefaultDashboardFactory,
  MetricStatistic,
  MonitoringFacade,
  noopAction,
  SnsAlarmActionStrategy,
} from 'cdk-monitoring-constructs';
import type { Construct } from 'constructs';
import { EVENTS_TOPIC } from '../constructs/kafka-events.ts';
import { MskServerlessMonitoring } from '../constructs/msk-serverless-monitoring.ts';
import type { WfloFunction } from '../constructs/wflo-function.ts';
import type { WorkflowStateMachine } from '../constructs/workflow-state-machine.ts';
import { API_STAGE } from './api-stack.ts';
import type { DataStack } from './data-stack.ts';

/** Powertools metrics namespace and the `service` dimension every wflo function emits with. */
export const METRICS_NAMESPACE = 'wflo';
export const METRICS_SERVICE = 'wflo';
/** Consumer group of the example event consumer whose lag is alarmed on. */
export const EVENTS_CONSUMER_GROUP = 'wflo-events-consumer';
/** Every alarm that pages carries this disambiguator; the composite alarm is built from them. */
export const CRITICAL = 'Critical';

export interface MonitoringStackProps extends StackProps {
  readonly prefix: string;
  readonly alarmEmail: string | undefined;
  /** Aurora's maximum ACUs (the capacity alarm fires at 90 %). */
  readonly dbMaxCapacity: number;
  /** Alarm when LLM spend exceeds this many USD in one hour. */
  readonly costAlarmUsdPerHour: number;
  readonly workflows: ReadonlyMap<string, WorkflowStateMachine>;
  /** Every function to watch (activities, API, migrations), by a short unique name. */
  readonly functions: ReadonlyMap<string, WfloFunction>;
  readonly api: apigw.RestApi;
  readonly data: DataStack;
  /** Dead-letter queues whose first message pages. */
  readonly deadLetterQueues: ReadonlyMap<string, sqs.IQueue>;
}

/**
 * Alarms and the dashboard, through the cdk-monitoring-constructs facade (alarm defaults in one place).
 * Every alarm is `Critical` with no action of its own; one composite alarm (any child in ALARM) notifies the SNS
 * topic, so an incident pages once. DEPLOYMENT.md explains each alarm.
 */
export class MonitoringStack extends Stack {
  readonly topic: sns.Topic;
  readonly facade: MonitoringFacade;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const { data } = props;

    // CloudWatch can publish to an encrypted topic only with a customer-managed key that trusts it.
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `${props.prefix}: encrypts the alarm topic`,
      enableKeyRotation: true,
      // Not the default plain RETAIN: a failed first create must delete what it made (issue 9).
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      topicName: `${props.prefix}-alarms`,
      displayName: `wflo ${props.prefix} alarms`,
      masterKey: topicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    this.facade = new MonitoringFacade(this, 'Monitoring', {
      alarmFactoryDefaults: {
        alarmNamePrefix: props.prefix,
        actionsEnabled: true,
        action: noopAction(),
        datapointsToAlarm: 1,
        evaluationPeriods: 1,
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
    const critical = <T>(t: T): Record<string, T> => ({ [CRITICAL]: t });

    f.addLargeHeader('wflo: workflows');
    for (const [name, wf] of props.workflows) {
      f.monitorStepFunction({
        stateMachine: wf.stateMachine,
        alarmFriendlyName: `Workflow-${name}`,
        humanReadableName: `Workflow ${name}`,
        // A single failure can be one bad input or one run stopped by its budget (those end in a Fail state
        // too); more than two in five minutes is systemic. Aborts are user cancellations: page on a burst only.
        addFailedExecutionCountAlarm: critical({ maxErrorCount: 2 }),
        addTimedOutExecutionCountAlarm: critical({ maxErrorCount: 0 }),
        addThrottledExecutionCountAlarm: critical({ maxErrorCount: 0 }),
        addAbortedExecutionCountAlarm: critical({ maxErrorCount: 5 }),
      });
    }

    f.addLargeHeader('wflo: functions');
    for (const [name, fn] of props.functions) {
      const timeout = fn.function.timeout ?? Duration.seconds(3);
      f.monitorLambdaFunction({
        lambdaFunction: fn.function,
        alarmFriendlyName: `Fn-${name}`,
        humanReadableName: `Function ${name}`,
        addFaultCountAlarm: critical({ maxErrorCount: 4, datapointsToAlarm: 1 }),
        addThrottlesCountAlarm: critical({ maxErrorCount: 0 }),
        addLatencyP99Alarm: critical({
          maxLatency: Duration.millis(Math.round(timeout.toMilliseconds() * 0.8)),
          datapointsToAlarm: 3,
          evaluationPeriods: 3,
        }),
      });
    }

    for (const [name, queue] of props.deadLetterQueues) {
      f.monitorSqsQueue({
        queue,
        alarmFriendlyName: `Dlq-${name}`,
        humanReadableName: `Dead letters: ${name}`,
        addQueueMaxSizeAlarm: critical({ maxMessageCount: 0 }),
      });
    }

    f.addLargeHeader('wflo: API');
    f.monitorApiGateway({
      api: props.api,
      apiStage: API_STAGE,
      alarmFriendlyName: 'Api',
      add5XXFaultCountAlarm: critical({ maxErrorCount: 4 }),
      addLatencyP99Alarm: critical({
        maxLatency: Duration.seconds(5),
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });

    f.addLargeHeader('wflo: data');
    f.monitorAuroraCluster({
      cluster: data.cluster,
      alarmFriendlyName: 'Aurora',
      addCpuUsageAlarm: critical({ maxUsagePercent: 90, datapointsToAlarm: 3, evaluationPeriods: 3 }),
      addMaxServerlessDatabaseCapacityAlarm: critical({
        maxUsageCount: props.dbMaxCapacity * 0.9,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    f.monitorServerlessElastiCache({
      clusterId: data.cache.cacheName,
      alarmFriendlyName: 'Valkey',
      addThrottleRateAlarm: critical({
        maxThrottleRatePercent: 1,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
      addTM99SuccessfulReadRequestLatencyAlarm: critical({
        maxLatency: Duration.millis(20),
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
      }),
    });
    if (data.kafka) {
      f.addSegment(
        new MskServerlessMonitoring(f, {
          clusterName: data.kafka.cluster.clusterName,
          topic: EVENTS_TOPIC,
          consumerGroup: EVENTS_CONSUMER_GROUP,
          maxTimeLag: Duration.minutes(15),
          alarmDisambiguator: CRITICAL,
        }),
      );
    }

    // Powertools metrics (namespace wflo, dimension service=wflo) emitted by the activities.
    const m = f.createMetricFactory();
    const dims = { service: METRICS_SERVICE };
    const costMicros = m.createMetric(
      'CostMicros',
      MetricStatistic.SUM,
      'cost (micro-USD)',
      dims,
      undefined,
      METRICS_NAMESPACE,
    );
    const costUsdPerHour = m.createMetricMath(
      'FILL(cost, 0) / 1000000',
      { cost: costMicros },
      'LLM + sandbox cost (USD per hour)',
      undefined,
      Duration.hours(1),
    );
    const budgetExceeded = m.createMetric(
      'BudgetExceeded',
      MetricStatistic.SUM,
      'budget exceeded',
      dims,
      undefined,
      METRICS_NAMESPACE,
    );
    const hit = m.createMetric(
      'CacheHit',
      MetricStatistic.SUM,
      'cache hits',
      dims,
      undefined,
      METRICS_NAMESPACE,
    );
    const miss = m.createMetric(
      'CacheMiss',
      MetricStatistic.SUM,
      'cache misses',
      dims,
      undefined,
      METRICS_NAMESPACE,
    );
    const hitRatio = m.createMetricMath(
      'IF((FILL(hit,0) + FILL(miss,0)) > 0, 100 * FILL(hit,0) / (FILL(hit,0) + FILL(miss,0)), 0)',
      { hit, miss },
      'LLM cache hit ratio (%)',
    );
    f.monitorCustom({
      alarmFriendlyName: 'Cost',
      humanReadableName: 'wflo: cost, budgets, cache',
      metricGroups: [
        {
          title: 'Cost (USD per hour)',
          metrics: [
            {
              metric: costUsdPerHour,
              alarmFriendlyName: 'CostPerHour',
              addAlarm: critical({
                threshold: props.costAlarmUsdPerHour,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingData: TreatMissingData.NOT_BREACHING,
                additionalDescription: `wflo spent more than ${props.costAlarmUsdPerHour} USD in one hour.`,
              }),
            },
          ],
        },
        {
          title: 'Executions stopped by their budget',
          metrics: [
            {
              metric: budgetExceeded,
              alarmFriendlyName: 'BudgetExceeded',
              addAlarm: critical({
                threshold: 10,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                treatMissingData: TreatMissingData.NOT_BREACHING,
                period: Duration.hours(1),
                additionalDescription: 'More than 10 executions hit their budget within an hour.',
              }),
            },
          ],
        },
        { title: 'LLM cache hit ratio (%)', metrics: [hitRatio, hit, miss] },
      ],
    });

    new CfnOutput(this, 'DashboardUrl', {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${props.prefix}`,
      description: 'The wflo CloudWatch dashboard',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.topic.topicArn,
      description: 'Where the critical alarm notifies',
    });

    f.createCompositeAlarmUsingDisambiguator(CRITICAL, {
      alarmDescription: `wflo ${props.prefix}: at least one critical alarm is in ALARM (see DEPLOYMENT.md, "Alarms").`,
      alarmNameOverride: `${props.prefix}-critical`,
      disambiguator: CRITICAL,
      actionOverride: new SnsAlarmActionStrategy({ onAlarmTopic: this.topic, onOkTopic: this.topic }),
    });
  }
}
