import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import {
  type BaseMonitoringProps,
  CountAxisFromZero,
  DefaultGraphWidgetHeight,
  MetricStatistic,
  type MetricWithAlarmSupport,
  Monitoring,
  type MonitoringScope,
  QuarterWidth,
  SizeAxisBytesFromZero,
} from 'cdk-monitoring-constructs';

export interface MskServerlessMonitoringProps extends BaseMonitoringProps {
  /** MSK Serverless cluster name (the `Cluster Name` dimension). */
  readonly clusterName: string;
  /** The topic to watch. */
  readonly topic: string;
  /** The consumer group whose lag is watched. */
  readonly consumerGroup: string;
  /** Alarm when the consumer group is this far behind the newest event. @default - no alarm */
  readonly maxTimeLag?: Duration;
  /** Disambiguator of the lag alarm (e.g. `Critical`). @default 'Critical' */
  readonly alarmDisambiguator?: string;
}

/**
 * Dashboard segment and alarm for MSK Serverless, which cdk-monitoring-constructs does not cover: bytes and
 * messages in/out of the event topic, and the consumer group's offset and time lag (AWS/Kafka metrics that MSK
 * Serverless publishes per topic and per consumer group).
 */
export class MskServerlessMonitoring extends Monitoring {
  readonly title: string;
  readonly bytesIn: MetricWithAlarmSupport;
  readonly bytesOut: MetricWithAlarmSupport;
  readonly messagesIn: MetricWithAlarmSupport;
  readonly maxOffsetLag: MetricWithAlarmSupport;
  readonly maxTimeLag: MetricWithAlarmSupport;
  private readonly lagAnnotations: cloudwatch.HorizontalAnnotation[] = [];

  constructor(scope: MonitoringScope, props: MskServerlessMonitoringProps) {
    super(scope, props);
    this.title = `MSK Serverless ${props.clusterName} / ${props.topic}`;
    const metrics = scope.createMetricFactory();
    const topicDims = { 'Cluster Name': props.clusterName, Topic: props.topic };
    const groupDims = { ...topicDims, 'Consumer Group': props.consumerGroup };
    const ns = 'AWS/Kafka';
    this.bytesIn = metrics.createMetric(
      'BytesInPerSec',
      MetricStatistic.AVERAGE,
      'Bytes in/s',
      topicDims,
      undefined,
      ns,
    );
    this.bytesOut = metrics.createMetric(
      'BytesOutPerSec',
      MetricStatistic.AVERAGE,
      'Bytes out/s',
      topicDims,
      undefined,
      ns,
    );
    this.messagesIn = metrics.createMetric(
      'MessagesInPerSec',
      MetricStatistic.AVERAGE,
      'Messages in/s',
      topicDims,
      undefined,
      ns,
    );
    this.maxOffsetLag = metrics.createMetric(
      'MaxOffsetLag',
      MetricStatistic.MAX,
      'Max offset lag',
      groupDims,
      undefined,
      ns,
    );
    this.maxTimeLag = metrics.createMetric(
      'EstimatedMaxTimeLag',
      MetricStatistic.MAX,
      'Estimated max time lag (s)',
      groupDims,
      undefined,
      ns,
    );

    if (props.maxTimeLag) {
      const alarms = this.createAlarmFactory(`Msk-${props.clusterName}`);
      const alarm = alarms.addAlarm(this.maxTimeLag, {
        disambiguator: props.alarmDisambiguator ?? 'Critical',
        alarmNameSuffix: 'ConsumerTimeLag',
        alarmDescription: `Consumer group ${props.consumerGroup} is more than ${props.maxTimeLag.toSeconds()} s behind topic ${props.topic}: events are not being consumed.`,
        threshold: props.maxTimeLag.toSeconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        datapointsToAlarm: 3,
        evaluationPeriods: 3,
        period: Duration.minutes(5),
      });
      this.lagAnnotations.push(alarm.annotation);
      this.addAlarm(alarm);
    }
    props.useCreatedAlarms?.consume(this.createdAlarms());
  }

  override summaryWidgets(): cloudwatch.IWidget[] {
    return this.widgets();
  }

  override widgets(): cloudwatch.IWidget[] {
    const h = DefaultGraphWidgetHeight;
    return [
      new cloudwatch.TextWidget({ markdown: `### ${this.title}`, width: 24, height: 1 }),
      new cloudwatch.GraphWidget({
        title: 'Throughput (bytes/s)',
        width: QuarterWidth,
        height: h,
        left: [this.bytesIn, this.bytesOut],
        leftYAxis: SizeAxisBytesFromZero,
      }),
      new cloudwatch.GraphWidget({
        title: 'Messages in/s',
        width: QuarterWidth,
        height: h,
        left: [this.messagesIn],
        leftYAxis: CountAxisFromZero,
      }),
      new cloudwatch.GraphWidget({
        title: 'Consumer offset lag',
        width: QuarterWidth,
        height: h,
        left: [this.maxOffsetLag],
        leftYAxis: CountAxisFromZero,
      }),
      new cloudwatch.GraphWidget({
        title: 'Consumer time lag (s)',
        width: QuarterWidth,
        height: h,
        left: [this.maxTimeLag],
        leftYAxis: CountAxisFromZero,
        leftAnnotations: this.lagAnnotations,
      }),
    ];
  }
}
