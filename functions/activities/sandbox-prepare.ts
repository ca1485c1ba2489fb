import { prepareSandbox, SandboxPrepareInputSchema } from '#shared/activities/sandbox-prepare';
import { activityHandler } from '#shared/middleware/activity';
import { getArtifacts } from '#shared/wiring/artifacts';
import { getConfig } from '#shared/wiring/config';
import { getStore } from '#shared/wiring/store';

/**
 * Lambda: stores a program and presigns its code and result URLs for the sandbox task (see
 * functions/shared/activities/sandbox-prepare.ts). Uses the store, S3 (with its presigner) and the config (the task size it holds budget for).
 */
export const handler = activityHandler(
  'sandbox-prepare',
  SandboxPrepareInputSchema,
  async () => ({ store: await getStore(), artifacts: await getArtifacts(), config: await getConfig() }),
  ({ store, artifacts, config }, step, input) =>
    prepareSandbox(
      { store, artifacts, taskSize: { cpu: config.sandbox.cpu, memoryMiB: config.sandbox.memoryMiB } },
      step,
      input,
    ),
);
