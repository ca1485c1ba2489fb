/*
 * CloudWatch names shared by the emitters (Powertools Metrics in the activities and event handlers) and the
 * monitoring stack that charts and alarms on them: a renamed metric fails `tsc` on the side that did not
 * follow, not a dashboard. Imported by Lambda bundles: no dependencies.
 */

/** The Powertools service name: the logs' `service` key and the metrics' `service` dimension. */
export const SERVICE_NAME = 'wflo';

/** The CloudWatch namespace of every wflo metric. */
export const METRICS_NAMESPACE = 'wflo';

/** Every custom metric wflo emits (counts, except where a comment says otherwise). */
export const METRICS = {
  /** Micro-dollars charged (LLM calls and sandbox runs). */
  CostMicros: 'CostMicros',
  LlmCalls: 'LlmCalls',
  CacheHit: 'CacheHit',
  CacheMiss: 'CacheMiss',
  /** The response cache failed and the call went on without it. */
  CacheErrors: 'CacheErrors',
  BudgetExceeded: 'BudgetExceeded',
  SandboxRuns: 'SandboxRuns',
  SandboxFailures: 'SandboxFailures',
  StepSucceeded: 'StepSucceeded',
  StepFailed: 'StepFailed',
  /** Runs whose end the reconciler recorded because the status projector had not. */
  ExecutionsReconciled: 'ExecutionsReconciled',
  /** Outbox rows the relay Lambda published to Kafka. */
  EventsRelayed: 'EventsRelayed',
  /** Seconds since the oldest outbox row still unsent committed (a gauge, unit Seconds): the relay-lag alarm. */
  OutboxOldestUnsentAge: 'OutboxOldestUnsentAge',
  /** Terminal execution events the run notifier (a Kafka consumer) announced. */
  RunNotificationsSent: 'RunNotificationsSent',
} as const;
export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/** What an emitter needs of Powertools Metrics: count metrics by contract name. */
export interface CountMetrics {
  addMetric(name: MetricName, unit: 'Count', value: number): void;
}
