import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import type { DbConnection } from '#local/engine/db/client';
import {
  migratePglite,
  migrationsUpToDate,
  openPglite,
  PGLITE_SHARED_BUFFERS,
  WASM_TIER_FLAG,
  wasmTieringFlag,
} from '#local/engine/db/pglite';
import { MIGRATIONS_DIR } from '#shared/db/connection';
import { rowsOf } from '#shared/store/statements';

/*
 * `wflo dev` on an existing data directory: the migrations already applied are recognised with one read
 * instead of drizzle's migrator (schema, table and an empty transaction on every start).
 */
let conn: DbConnection | undefined;
afterEach(async () => {
  await conn?.close();
  conn = undefined;
});

describe('migrationsUpToDate', () => {
  it('is false on a new store, true once every migration is applied', async () => {
    // Prepare
    conn = await openPglite('memory://');

    // Act
    const before = await migrationsUpToDate(conn);
    await migratePglite(conn);
    const after = await migrationsUpToDate(conn);

    // Assess
    expect(before).toBe(false);
    expect(after).toBe(true);
  });

  it('is false when the newest migration in the folder is not recorded', async () => {
    // Prepare: a store whose newest migration was never applied (its row and its effects removed)
    conn = await openPglite('memory://');
    await migratePglite(conn);
    const newest = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR }).at(-1)!;
    await conn.db.execute(
      sql`delete from drizzle.__drizzle_migrations where created_at = ${newest.folderMillis}`,
    );

    // Act
    const stale = await migrationsUpToDate(conn);

    // Assess
    expect(stale).toBe(false);
  });
});

describe('wasmTieringFlag', () => {
  it('keeps PGlite on Liftoff, unless the command line already tunes WebAssembly tiering', () => {
    // Prepare
    const plain = ['--enable-source-maps'];
    const tuned = [
      ['--liftoff-only'],
      ['--wasm-tiering-budget=1000'],
      ['--no-wasm-tier-up'],
      ['--no-wasm-dynamic-tiering'],
    ];

    // Act
    const flag = wasmTieringFlag(plain);
    const kept = tuned.map((argv) => wasmTieringFlag(argv));

    // Assess
    expect(flag).toBe('--liftoff-only');
    expect(WASM_TIER_FLAG).toBe(flag);
    expect(kept).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('openPglite', () => {
  it("opens PostgreSQL with the smaller shared buffers, PGlite's other start parameters kept", async () => {
    // Prepare
    conn = await openPglite('memory://');

    // Act
    const rows = rowsOf<{ setting: string; search_path: string }>(
      await conn.db.execute(
        sql`select current_setting('shared_buffers') as setting, current_setting('search_path') as search_path`,
      ),
    );

    // Assess
    expect(rows[0]?.setting).toBe(PGLITE_SHARED_BUFFERS);
    expect(rows[0]?.search_path).toBe('public');
  }, 60_000);
});
