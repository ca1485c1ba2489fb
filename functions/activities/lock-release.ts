import { LockReleaseInputSchema, lockRelease } from '#shared/activities/locks';
import { activityHandler } from '#shared/middleware/activity';
import { getLocks } from '#shared/wiring/locks';
import { getStore } from '#shared/wiring/store';

/**
 * Lambda: lock-release (see functions/shared/activities/locks.ts). Uses the store (events) and the locks
 * (ElastiCache Valkey, so it runs in the VPC).
 */
export const handler = activityHandler(
  'lock-release',
  LockReleaseInputSchema,
  async () => ({ store: await getStore(), locks: await getLocks() }),
  (deps, step, input) => lockRelease(deps, step, input),
);
