import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { METRICS } from '#shared/contracts/metrics';
import { ReconcileFailedError } from '#shared/errors';
import { logger, metrics } from '#shared/observability';
import { RECONCILE_DEFAULTS, type ReconcileReport, reconcileExecutions } from '#shared/reconcile';
import { getConfig } from '#shared/wiring/config';
import { getStore } from '#shared/wiring/store';

const sfn = new SFNClient({});

/** Scheduled every few minutes: moves runs left unfinished to the end Step Functions reports for them. */
export const handler = async (
  _event: unknown,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<ReconcileReport> => {
  const [store, config] = await Promise.all([getStore(), getConfig()]);
  const report = await reconcileExecutions(store, sfn, {
    ...RECONCILE_DEFAULTS,
    stateMachines: config.stateMachines,
    deadline: Date.now() + context.getRemainingTimeInMillis() - RECONCILE_DEFAULTS.marginMs,
  });
  logger.info('reconciled executions', { ...report });
  metrics.addMetric(METRICS.ExecutionsReconciled, MetricUnit.Count, report.reconciled + report.missing);
  metrics.publishStoredMetrics();
  const failed = report.errors.map((e) => `${e.executionId}: ${e.error}`).join('; ');
  if (failed)
    throw new ReconcileFailedError(`could not describe ${report.errors.length} execution(s): ${failed}`);
  return report;
};
