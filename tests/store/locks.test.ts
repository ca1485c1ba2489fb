import { afterAll, beforeAll, describe } from 'vitest';
import type { DbConnection } from '#shared/db/connection';
import { storeLocks } from '#shared/locks/store-locks';
import type { LockManager } from '#shared/ports/lock';
import { openTestConnection } from '../helpers/database.ts';
import { lockContract } from '../helpers/lock-contract.ts';

let conn: DbConnection;
let locks: LockManager;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ conn, drop } = await openTestConnection());
  locks = storeLocks(conn.db);
});

afterAll(async () => {
  await conn?.close();
  await drop?.();
});

describe('Adapter: storeLocks (the locks table; PGlite, or PostgreSQL in the integration suite)', () => {
  lockContract(() => ({ locks, db: conn.db }), 'store');
});
