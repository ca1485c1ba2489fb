import { afterAll, beforeAll, describe } from 'vitest';
import type { DbConnection } from '#shared/db/connection';
import { storeLocks } from '#shared/locks/store-locks';
import type { LockManager } from '#shared/ports/lock';
import { createTestDatabase } from '../helpers/database.ts';
import { lockContract } from '../helpers/lock-contract.ts';

let conn: DbConnection;
let locks: LockManager;
let drop: () => Promise<void>;

beforeAll(async () => {
  const { openDb } = await import('#local/engine/db/client');
  const db = await createTestDatabase();
  drop = db.drop;
  conn = await openDb(
    db.url ? { kind: 'postgres', url: db.url, poolSize: 10 } : { kind: 'pglite', dataDir: 'memory://' },
  );
  locks = storeLocks(conn.db);
});

afterAll(async () => {
  await conn?.close();
  await drop?.();
});

describe('Adapter: storeLocks (the locks table; PGlite, or PostgreSQL in the integration suite)', () => {
  lockContract(() => ({ locks, db: conn.db }), 'store');
});
