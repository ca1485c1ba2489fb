import type { Config } from '../config.ts';
import type { WfloDb } from '../db/connection.ts';
import type { LockManager } from '../ports/lock.ts';
import { redisLocks } from './redis-locks.ts';
import { storeLocks } from './store-locks.ts';

/**
 * The lock adapter the config selects: the same Redis/Valkey as the response cache when one is configured
 * (`REDIS_URL`, or ElastiCache Serverless with IAM auth on AWS), the store's `locks` table otherwise.
 */
export function createLocks(config: Config, db: WfloDb): LockManager {
  const t = config.cache.target;
  if (t.kind === 'store') return storeLocks(db);
  if (t.kind === 'redis-url') return redisLocks({ kind: 'url', url: t.url });
  return redisLocks({
    kind: 'elasticache',
    host: t.host,
    port: t.port,
    tls: t.tls,
    ...(t.iam ? { iam: t.iam } : {}),
  });
}
