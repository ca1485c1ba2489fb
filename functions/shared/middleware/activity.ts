import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { logger, metrics, tracer } from '../observability.ts';
import { getRuntime, type Runtime } from '../runtime.ts';
import type { StepInfo } from '../step-context.ts';
import { type ActivityContext, stepTracking } from './step-tracking.ts';
import { validateInput } from './validate-input.ts';

/**
 * The house middleware stack every activity Lambda uses: Powertools logger, metrics and tracer, the
 * stepTracking middleware (step row + events) and zod validation of the event. The activity itself is a
 * plain function of (runtime, step, validated input).
 * @example export const handler = activityHandler('execution-finish', Schema, (rt, step, input) => finish(rt, step, input));
 */
export function activityHandler<S extends z.ZodType, O>(
  activity: string,
  schema: S,
  fn: (runtime: Runtime, step: StepInfo, input: z.infer<S>) => Promise<O>,
) {
  const base = async (event: z.infer<S>, context: Context): Promise<O> =>
    fn(await getRuntime(), (context as ActivityContext).step, event);
  return middy<z.infer<S>, O, Error, Context>(base)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(captureLambdaHandler(tracer))
    .use(stepTracking(activity, getRuntime))
    .use(validateInput(schema));
}
