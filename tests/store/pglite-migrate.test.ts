import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import type { DbConnection } from '#local/engine/db/client';
import {
  migratePglite,
  migrationsUpToDate,
  openPglite,
  WASM_TIERING_BUDGET,
  wasmTieringFlag,
} from '#local/engine/db/pglite';
import { MIGRATIONS_DIR } from '#shared/db/connection';

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
  it('raises V8 tiering budget for PGlite, unless the command line already tunes WebAssembly tiering', () => {
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
    expect(flag).toBe(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
    expect(WASM_TIERING_BUDGET).toBeGreaterThan(1_800_000);
    expect(kept).toEqual([undefined, undefined, undefined, undefined]);
  });
});
