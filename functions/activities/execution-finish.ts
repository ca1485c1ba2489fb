import { ExecutionFinishInputSchema, finishExecution } from '#shared/activities/execution-finish';
import { activityHandler } from '#shared/middleware/activity';
import { getStore } from '#shared/wiring/store';

/** Lambda: records an execution's final status, output and error. Uses only the store. */
export const handler = activityHandler(
  'execution-finish',
  ExecutionFinishInputSchema,
  async () => ({ store: await getStore() }),
  (deps, step, input) => finishExecution(deps, step, input),
);
