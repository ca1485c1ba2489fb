import { collectSandbox, SandboxCollectInputSchema } from '#shared/activities/sandbox-collect';
import { activityHandler } from '#shared/middleware/activity';
import { metrics } from '#shared/observability';

/** Lambda: reads a sandbox run's result, charges its compute, and fails on a bad exit (see functions/shared/activities/sandbox-collect.ts). */
export const handler = activityHandler('sandbox-collect', SandboxCollectInputSchema, (rt, step, input) =>
  collectSandbox(
    {
      store: rt.store,
      artifacts: rt.artifacts,
      taskSize: { cpu: rt.config.sandbox.cpu, memoryMiB: rt.config.sandbox.memoryMiB },
      metrics,
    },
    step,
    input,
  ),
);
