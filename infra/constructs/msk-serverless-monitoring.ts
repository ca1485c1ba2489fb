import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { GraphWidget, TextWidget } from 'aws-cdk-lib/aws-cloudwatch';
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
}

/**
 * Dashboard segment for MSK Serverless, which cdk-monitoring-constructs does not cover: bytes and messages in
 * and out of the event topic (AWS/Kafka metrics MSK Serverless publishes per topic). It creates no alarm:
 * nothing consumes the topic yet, and a consumer-lag alarm belongs with the first consumer group that exists
 * (`EstimatedMaxTimeLag` per `Consumer Group`), added together with that consumer.
 */
export class MskServerlessMonitoring extends Monitoring {
  readonly title: string;
  readonly bytesIn: MetricWithAlarmSupport;
  readonly bytesOut: MetricWithAlarmSupport;
  readonly messagesIn: MetricWithAlarmSupport;

  constructor(scope: MonitoringScope, props: MskServerlessMonitoringProps) {
    super(scope, props);
    this.title = `MSK Serverless ${props.clusterName} / ${props.topic}`;
    const metrics = scope.createMetricFactory();
    const dims = { 'Cluster Name': props.clusterName, Topic: props.topic };
    const metric = (name: string, label: string) =>
      metrics.createMetric(name, MetricStatistic.AVERAGE, label, dims, undefined, 'AWS/Kafka');
    this.bytesIn = metric('BytesInPerSec', 'Bytes in/s');
    this.bytesOut = metric('BytesOutPerSec', 'Bytes out/s');
    this.messagesIn = metric('MessagesInPerSec', 'Messages in/s');
  }

  override summaryWidgets(): cloudwatch.IWidget[] {
    return this.widgets();
  }

  override widgets(): cloudwatch.IWidget[] {
    const h = DefaultGraphWidgetHeight;
    return [
      new TextWidget({ markdown: `### ${this.title}`, width: 24, height: 1 }),
      new GraphWidget({
        title: 'Throughput (bytes/s)',
        width: 2 * QuarterWidth,
        height: h,
        left: [this.bytesIn, this.bytesOut],
        leftYAxis: SizeAxisBytesFromZero,
      }),
      new GraphWidget({
        title: 'Messages in/s',
        width: 2 * QuarterWidth,
        height: h,
        left: [this.messagesIn],
        leftYAxis: CountAxisFromZero,
      }),
    ];
  }
}
