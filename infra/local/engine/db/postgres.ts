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
  const db = drizzle({ client: pool, schema }) as unknown as WfloDb;
  return { kind: 'postgres', db, close: () => pool.end() };
}

/** Applies the SQL migrations in {@link MIGRATIONS_DIR} (idempotent). */
export async function migratePostgres(conn: DbConnection): Promise<void> {
  // biome-ignore lint/suspicious/noExplicitAny: the driver-specific migrator wants its own db type; ours is the common supertype.
  await migrate(conn.db as any, { migrationsFolder: MIGRATIONS_DIR });
}
