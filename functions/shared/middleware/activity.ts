import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { logger, metrics } from '../observability.ts';
import type { Store } from '../ports/store.ts';
import type { StepInfo } from '../step-context.ts';
import { type ActivityContext, stepTracking } from './step-tracking.ts';
import { validateInput } from './validate-input.ts';

/** Time kept back from a function's timeout to release what a call held and record the step's end. */
export const DEADLINE_MARGIN_MS = 2_000;

/**
 * A signal that aborts {@link DEADLINE_MARGIN_MS} before the invocation's deadline (at once when less is
 * left), so a slow model call fails as a retryable error with its reservation released, instead of the
 * function being killed mid-call with the reservation held and the step left running.
 */
export function deadlineSignal(context: Pick<Context, 'getRemainingTimeInMillis'>): AbortSignal {
  const left = context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;
  return left > 0
    ? AbortSignal.timeout(left)
    : AbortSignal.abort(new Error('no time left before the deadline'));
}

/** What an activity gets besides its input: the invocation's deadline as an abort signal. */
export interface ActivityOptions {
  readonly signal: AbortSignal;
}

/**
 * The house middleware stack every activity Lambda uses: Powertools logger and metrics, the
 * stepTracking middleware (step row + events) and zod validation of the event. The activity itself is a
 * plain function of (its dependencies, step, validated input, { signal }).
 *
 * `deps` builds what the activity uses (the store at least) from the wiring parts (functions/shared/wiring/*.ts),
 * lazily on the first invocation and once per container; a handler's bundle then holds only those parts' clients.
 * @example export const handler = activityHandler('execution-finish', Schema, async () => ({ store: await getStore() }), (d, step, input) => finish(d, step, input));
 */
export function activityHandler<S extends z.ZodType, D extends { readonly store: Store }, O>(
  activity: string,
  schema: S,
  deps: () => Promise<D>,
  fn: (deps: D, step: StepInfo, input: z.infer<S>, options: ActivityOptions) => Promise<O>,
) {
  const base = async (event: z.infer<S>, context: Context): Promise<O> =>
    fn(await deps(), (context as ActivityContext).step, event, { signal: deadlineSignal(context) });
  return (
    middy<z.infer<S>, O, Error, Context>(base)
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(logMetrics(metrics))
      // The first invocation builds every part here, before the step row, as one runtime used to be.
      .use(stepTracking(activity, deps))
      .use(validateInput(schema))
  );
}
