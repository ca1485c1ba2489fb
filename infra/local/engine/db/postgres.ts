import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { type DbConnection, MIGRATIONS_DIR, type WfloDb } from '#shared/db/connection';
import { schema } from '#shared/db/schema';

/**
 * Opens PostgreSQL with node-postgres (DATABASE_URL): the local target against a server, and the
 * integration tests. Not used on Lambda (see functions/shared/wiring/store.ts).
 */
export async function openPostgres(config: { url: string; poolSize: number }): Promise<DbConnection> {
  // int8 (bigint) columns come back as strings by default; our money fits in a double exactly.
  pg.types.setTypeParser(20, (v: string) => Number(v));
  const pool = new pg.Pool({ connectionString: config.url, max: config.poolSize });
  // An idle client whose server went away (restart, failover: 57P01) emits 'error' on the pool; without a
  // listener Node ends the process. The pool drops that client and opens a fresh one on the next query;
  // a statement that was running fails with a retryable StoreUnavailableError (db/errors.ts).
  let lastWarning = 0;
  pool.on('error', (error: Error & { code?: string }) => {
    const now = Date.now();
    if (now - lastWarning < 10_000) return;
    lastWarning = now;
    console.warn(
      `wflo: a PostgreSQL connection was lost (${error.code ?? error.message}); reconnecting on next use`,
    );
  });
  const db = drizzle({ client: pool, schema }) as unknown as WfloDb;
  return { kind: 'postgres', db, close: () => pool.end() };
}

/** Applies the SQL migrations in {@link MIGRATIONS_DIR} (idempotent). */
export async function migratePostgres(conn: DbConnection): Promise<void> {
  // biome-ignore lint/suspicious/noExplicitAny: the driver-specific migrator wants its own db type; ours is the common supertype.
  await migrate(conn.db as any, { migrationsFolder: MIGRATIONS_DIR });
}
