import { createLocks } from '../locks/create-locks.ts';
import type { LockManager } from '../ports/lock.ts';
import { getConfig } from './config.ts';
import { lazyPart } from './lazy.ts';
import { getLambdaDb } from './store.ts';

/** The process's locks: ElastiCache on Lambda (the store's table without one), or the installed runtime's. */
export const getLocks: () => Promise<LockManager> = lazyPart(
  (rt) => rt.locks,
  async () => createLocks(await getConfig(), (await getLambdaDb()).db),
);
