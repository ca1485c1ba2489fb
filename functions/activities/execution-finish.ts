import { ExecutionFinishInputSchema, finishExecution } from '#shared/activities/execution-finish';
import { activityHandler } from '#shared/middleware/activity';

/** Lambda: records an execution's final status, output and error. */
export const handler = activityHandler('execution-finish', ExecutionFinishInputSchema, (rt, step, input) =>
  finishExecution({ store: rt.store }, step, input),
);
