import { mkdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { type DbConnection, MIGRATIONS_DIR, type WfloDb } from '#shared/db/connection';
import { schema } from '#shared/db/schema';
import { rowsOf } from '#shared/store/statements';
import { startupStep } from '../startup-timing.ts';
import { BatchingPglite } from './pglite-batch.ts';
import { type CheckpointerOptions, DEFAULT_CHECKPOINTER, startCheckpointer } from './pglite-checkpoint.ts';
import { recoveryObserver } from './pglite-recovery.ts';

/**
 * The V8 flag PGlite runs under: its WebAssembly compiled by V8's baseline compiler (Liftoff) only, never
 * recompiled by the optimizing one (TurboFan). With tiering on, even at ten times V8's tiering budget, PostgreSQL's
 * start (crash recovery, the catalog caches, the first statements) sends enough of PGlite's 10 MB module to
 * TurboFan that, on a 2-core machine, the compiles take the CPU from the start itself and hold the event loop
 * for 0.2-0.5 s after PGlite.create, before the first statement runs. Measured on a kill -9 directory with 200 runs
 * in flight, interleaved (load 5-6): PGlite.create 350-560 ms instead of 650-1,000 ms with no hold after it, `wflo
 * dev` serving after 815 ms instead of 1,161 ms (CPU at serving 790 ms instead of 1,120 ms), the 200 resumed
 * runs' model calls all sent 1.3 s after the restart instead of 2.3 s. The cost is the code a long-running process
 * keeps hot staying at Liftoff: CPU-bound statement work is slower (the local-engine bench's burst of 50 runs at
 * 290-310 ms instead of ~250 ms on the quiet machine), while the recovery bench's 200 runs without a crash, mostly
 * waiting on their model, took the same time (docs/local-runtime.md, "Start-up"). A flag is global to the process and read when a module compiles: set later, it changes nothing for
 * PGlite's module (measured: no TurboFan compile after `--no-liftoff-only`).
 */
export const WASM_TIER_FLAG = '--liftoff-only';

/**
 * {@link WASM_TIER_FLAG}, unless the command line already tunes WebAssembly tiering (`node --liftoff-only`,
 * `--wasm-tiering-budget=…`, `--no-wasm-tier-up`…): the user's choice stands.
 */
export function wasmTieringFlag(execArgv: readonly string[]): string | undefined {
  const tuned = execArgv.some((arg) => /^--(no-)?(wasm[-_](dynamic[-_])?tier|liftoff)/.test(arg));
  return tuned ? undefined : WASM_TIER_FLAG;
}

/**
 * PostgreSQL's shared buffers for PGlite, instead of its default 128 MB: PGlite allocates them in its
 * WebAssembly memory at each open, and zero-filling 128 MB (`memset`, on the one JS thread) was ~100 ms of
 * a restart's CPU profile. The embedded store is a dev store: its pages also stay in the OS's page cache (PGlite
 * reads the data directory's files through the file system), so a smaller buffer costs a read syscall, not a disk
 * read. Given on the command line (`-c`), so nothing is written into the data directory's postgresql.conf.
 */
export const PGLITE_SHARED_BUFFERS = '16MB';

/** PGlite's own start parameters plus {@link PGLITE_SHARED_BUFFERS}. */
export function pgliteStartParams(): string[] {
  return [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`];
}

let tieringSet = false;

/** Sets {@link WASM_TIER_FLAG} once per process, before PGlite compiles its module (the flag is read then). */
function tuneWasmTiering(): void {
  if (tieringSet) return;
  tieringSet = true;
  const flag = wasmTieringFlag(process.execArgv);
  if (flag) setFlagsFromString(flag);
}

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
  tuneWasmTiering();
  const created = startupStep('store: PGlite.create');
  const startParams = pgliteStartParams();
  const pglite = inMemory
    ? await PGlite.create({ startParams })
    : await PGlite.create({ dataDir, startParams, onStderr: recoveryObserver() });
  created();
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
