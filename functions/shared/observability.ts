import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, SERVICE_NAME } from './contracts/metrics.ts';

/**
 * Created once per process and shared by every handler (Powertools reads its settings from POWERTOOLS_* env).
 * No Powertools Tracer: Lambda's active tracing already records each invocation in X-Ray, and the tracer's
 * X-Ray SDK (with cls-hooked's async hooks on every promise) cost 123 KB per bundle and pushed the cold
 * start past 1.5× a bare SDK handler (`npm run bench -- cold-start`) for one handler subsegment.
 */
export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
