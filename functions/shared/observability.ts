import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** Created once per process and shared by every handler (Powertools reads its settings from POWERTOOLS_* env). */
export const logger = new Logger({ serviceName: 'wflo' });
export const metrics = new Metrics({ namespace: 'wflo', serviceName: 'wflo' });
export const tracer = new Tracer({ serviceName: 'wflo' });
