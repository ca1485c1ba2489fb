import { afterAll, beforeAll, describe } from 'vitest';
import type { DbConnection } from '#shared/db/connection';
import { redisLocks } from '#shared/locks/redis-locks';
import type { LockManager } from '#shared/ports/lock';
import { createTestDatabase } from '../helpers/database.ts';
import { lockContract } from '../helpers/lock-contract.ts';

const url = process.env.REDIS_URL;
if (!url) throw new Error('REDIS_URL is not set: run through `npm run test:integration`');

let conn: DbConnection;
let locks: LockManager;
let drop: () => Promise<void>;

beforeAll(async () => {
  const { openDb } = await import('#local/engine/db/client');
  // The fenced document lives in the store (PostgreSQL here, PGlite without DATABASE_URL); the lock in Redis.
  const db = await createTestDatabase();
  drop = db.drop;
  conn = await openDb(
    db.url ? { kind: 'postgres', url: db.url, poolSize: 10 } : { kind: 'pglite', dataDir: 'memory://' },
  );
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
