import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { type DbConnection, MIGRATIONS_DIR, type WfloDb } from '#shared/db/connection';
import { schema } from '#shared/db/schema';
import { rowsOf } from '#shared/store/statements';
import { BatchingPglite } from './pglite-batch.ts';
import { type CheckpointerOptions, DEFAULT_CHECKPOINTER, startCheckpointer } from './pglite-checkpoint.ts';
import { recoveryObserver } from './pglite-recovery.ts';

/**
 * Opens the embedded PGlite store (the local target and the tests): file-backed under `dataDir` (created
 * 0700 on first run) or in memory for `memory://`. Local-only: no Lambda entry point may import this module
 * (tests/infra/bundles.test.ts loads every bundle where PGlite does not exist).
 */
export async function openPglite(
  dataDir: string,
  options: { checkpointer?: CheckpointerOptions | false } = {},
): Promise<DbConnection> {
  const inMemory = dataDir === 'memory://';
  // 0700 (each level made here): PGlite writes its files 0644, and they hold every execution's input.
  if (!inMemory) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pglite = inMemory
    ? await PGlite.create()
    : await PGlite.create({ dataDir, onStderr: recoveryObserver() });
  // Concurrent executions' statements are sent to PGlite together (group commit, see pglite-batch.ts).
  const client = new BatchingPglite(pglite);
  const db = drizzle({ client: client as unknown as typeof pglite, schema }) as unknown as WfloDb;
  // A file-backed store checkpoints by WAL volume, so a restart after kill -9 replays a bounded WAL
  // (pglite-checkpoint.ts); in memory there is nothing to recover.
  const checkpointing = options.checkpointer ?? DEFAULT_CHECKPOINTER;
  const checkpointer =
    inMemory || checkpointing === false
      ? undefined
      : startCheckpointer(pglite, {
          ...checkpointing,
          onError: (error) =>
            console.error(`wflo: could not checkpoint the store (${(error as Error).message}); trying again`),
        });
  return {
    kind: 'pglite',
    db,
    close: async () => {
      await checkpointer?.stop();
      await client.close();
    },
  };
}

/**
 * Applies the SQL migrations in {@link MIGRATIONS_DIR} (idempotent). On a data directory that already has
 * every migration (each start after the first) it only reads which one was applied last: drizzle's migrator
 * would also create its schema and table if missing and open a transaction to apply nothing.
 */
export async function migratePglite(conn: DbConnection): Promise<void> {
  if (await migrationsUpToDate(conn)) return;
  // biome-ignore lint/suspicious/noExplicitAny: the driver-specific migrator wants its own db type; ours is the common supertype.
  await migrate(conn.db as any, { migrationsFolder: MIGRATIONS_DIR });
}

/**
 * True when the newest migration in the folder is already recorded: drizzle's own test (it applies each
 * migration whose `folderMillis` is later than the newest `created_at` in `drizzle.__drizzle_migrations`).
 */
export async function migrationsUpToDate(conn: DbConnection): Promise<boolean> {
  const newest = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR }).at(-1);
  if (!newest) return true;
  const [table] = rowsOf<{ present: boolean }>(
    await conn.db.execute(sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`),
  );
  if (!table?.present) return false;
  const [applied] = rowsOf<{ newest: string | number | null }>(
    await conn.db.execute(sql`select max(created_at) as newest from drizzle.__drizzle_migrations`),
  );
  const last = applied?.newest;
  return last !== null && last !== undefined && Number(last) >= newest.folderMillis;
}
