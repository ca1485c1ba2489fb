import { collectSandbox, SandboxCollectInputSchema } from '#shared/activities/sandbox-collect';
import { activityHandler } from '#shared/middleware/activity';
import { metrics } from '#shared/observability';
import { getArtifacts } from '#shared/wiring/artifacts';
import { getConfig } from '#shared/wiring/config';
import { getStore } from '#shared/wiring/store';

/**
 * Lambda: reads a sandbox run's result, charges its compute, and fails on a bad exit (see
 * functions/shared/activities/sandbox-collect.ts). Uses the store and S3.
 */
export const handler = activityHandler(
  'sandbox-collect',
  SandboxCollectInputSchema,
  async () => ({ store: await getStore(), artifacts: await getArtifacts(), config: await getConfig() }),
  ({ store, artifacts, config }, step, input) =>
    collectSandbox(
      {
        store,
        artifacts,
        taskSize: { cpu: config.sandbox.cpu, memoryMiB: config.sandbox.memoryMiB },
        metrics,
      },
      step,
      input,
    ),
);
