import { prepareSandbox, SandboxPrepareInputSchema } from '#shared/activities/sandbox-prepare';
import { activityHandler } from '#shared/middleware/activity';

/** Lambda: stores a program and presigns its code and result URLs for the sandbox task (see functions/shared/activities/sandbox-prepare.ts). */
export const handler = activityHandler('sandbox-prepare', SandboxPrepareInputSchema, (rt, step, input) =>
  prepareSandbox({ store: rt.store, artifacts: rt.artifacts }, step, input),
);
