import { afterAll, beforeAll, describe } from 'vitest';
import type { DbConnection } from '#shared/db/connection';
import { redisLocks } from '#shared/locks/redis-locks';
import type { LockManager } from '#shared/ports/lock';
import { openTestConnection } from '../helpers/database.ts';
import { lockContract } from '../helpers/lock-contract.ts';

const url = process.env.REDIS_URL;
if (!url) throw new Error('REDIS_URL is not set: run through `npm run test:integration`');

let conn: DbConnection;
let locks: LockManager;
let drop: () => Promise<void>;

beforeAll(async () => {
  // The fenced document lives in the store (PostgreSQL here, PGlite without DATABASE_URL); the lock in Redis.
  ({ conn, drop } = await openTestConnection());
  locks = redisLocks({ kind: 'url', url });
});

afterAll(async () => {
  await locks?.close();
  await conn?.close();
  await drop?.();
});

describe('Adapter: redisLocks (real Redis on loopback)', () => {
  lockContract(() => ({ locks, db: conn.db }), 'redis');
});
