import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { MetricStatistic, type MonitoringFacade } from 'cdk-monitoring-constructs';
import {
  METRICS,
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
} from '../../functions/shared/contracts/metrics.ts';
import type { AlarmOf } from './monitoring-alarms.ts';

/**
 * Cost, budgets and cache on the dashboard, with the cost-per-hour and budget alarms: the Powertools metrics
 * the activities emit (the names come from the metrics contract, so a renamed metric fails `tsc` here).
 */
export function addBusinessSegment(f: MonitoringFacade, costAlarmUsdPerHour: number, alarm: AlarmOf): void {
  f.addLargeHeader('wflo: cost, budgets, cache');
  const m = f.createMetricFactory();
  const dims = { service: SERVICE_NAME };
  const metric = (name: MetricName, label: string) =>
    m.createMetric(name, MetricStatistic.SUM, label, dims, undefined, METRICS_NAMESPACE);
  const costUsdPerHour = m.createMetricMath(
    'FILL(cost, 0) / 1000000',
    { cost: metric(METRICS.CostMicros, 'cost (micro-USD)') },
    'LLM + sandbox cost (USD per hour)',
    undefined,
    Duration.hours(1),
  );
  const hit = metric(METRICS.CacheHit, 'cache hits');
  const miss = metric(METRICS.CacheMiss, 'cache misses');
  const hitRatio = m.createMetricMath(
    'IF((FILL(hit,0) + FILL(miss,0)) > 0, 100 * FILL(hit,0) / (FILL(hit,0) + FILL(miss,0)), 0)',
    { hit, miss },
    'LLM cache hit ratio (%)',
  );
  f.monitorCustom({
    alarmFriendlyName: 'Cost',
    humanReadableName: 'Cost, budgets, cache',
    metricGroups: [
      {
        title: 'Cost (USD per hour)',
        metrics: [
          {
            metric: costUsdPerHour,
            alarmFriendlyName: 'CostPerHour',
            addAlarm: alarm('Cost', 'Critical', 'llm-cost-per-hour', {
              threshold: costAlarmUsdPerHour,
              comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
              treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
              additionalDescription: `wflo spent more than ${costAlarmUsdPerHour} USD in one hour.`,
            }),
          },
        ],
      },
      {
        title: 'Executions stopped by their budget',
        metrics: [
          {
            metric: metric(METRICS.BudgetExceeded, 'budget exceeded'),
            alarmFriendlyName: 'BudgetExceeded',
            addAlarm: alarm('Cost', 'Warning', 'budget-exceeded', {
              threshold: 10,
              comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
              treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
              period: Duration.hours(1),
              additionalDescription: 'More than 10 executions hit their budget within an hour.',
            }),
          },
        ],
      },
      { title: 'LLM cache hit ratio (%)', metrics: [hitRatio, hit, miss] },
    ],
  });
}
