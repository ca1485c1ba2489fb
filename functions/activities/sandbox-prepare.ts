import { prepareSandbox, SandboxPrepareInputSchema } from '#shared/activities/sandbox-prepare';
import { activityHandler } from '#shared/middleware/activity';
import { getArtifacts } from '#shared/wiring/artifacts';
import { getStore } from '#shared/wiring/store';

/**
 * Lambda: stores a program and presigns its code and result URLs for the sandbox task (see
 * functions/shared/activities/sandbox-prepare.ts). Uses the store and S3 (with its presigner).
 */
export const handler = activityHandler(
  'sandbox-prepare',
  SandboxPrepareInputSchema,
  async () => ({ store: await getStore(), artifacts: await getArtifacts() }),
  (deps, step, input) => prepareSandbox(deps, step, input),
);
