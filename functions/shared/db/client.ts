import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RDSDataClient, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-rds-data';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { StoreConfig } from '../config.ts';
import { BatchingPglite } from './pglite-batch.ts';
import { retryWhileResuming } from './resume-retry.ts';
import { schema } from './schema.ts';

/** Drizzle over any Postgres driver wflo supports; store code is written once against this. */
export type WfloDb = PgDatabase<PgQueryResultHKT, typeof schema>;

/** An open database connection (the store port's adapter): PGlite, node-postgres, or the Aurora Data API. */
export interface DbConnection {
  readonly kind: 'pglite' | 'postgres' | 'data-api';
  readonly db: WfloDb;
  close(): Promise<void>;
}

/** Folder of the generated SQL migrations (drizzle-kit), shared by every driver. */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Opens the configured database and applies pending migrations.
 * PGlite is file-backed under `dataDir` (created on first run) or in memory for `memory://`.
 * Migrations run by default, except on the Aurora Data API (a deploy-time custom resource applies them there).
 */
export async function openDb(
  config: StoreConfig,
  options: { migrate?: boolean } = {},
): Promise<DbConnection> {
  const conn =
    config.kind === 'pglite'
      ? await openPglite(config.dataDir)
      : config.kind === 'data-api'
        ? await openDataApi(config)
        : await openPostgres(config);
  // On AWS the deploy-time custom resource applies migrations once; Lambdas must not race to apply them.
  if (options.migrate ?? config.kind !== 'data-api') await migrateDb(conn);
  return conn;
}

async function openPglite(dataDir: string): Promise<DbConnection> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const inMemory = dataDir === 'memory://';
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  const pglite = inMemory ? await PGlite.create() : await PGlite.create({ dataDir });
  // Concurrent executions' statements are sent to PGlite together (group commit, see pglite-batch.ts).
  const client = new BatchingPglite(pglite);
  const db = drizzle({ client: client as unknown as typeof pglite, schema }) as unknown as WfloDb;
  return {
    kind: 'pglite',
    db,
    close: () => client.close(),
  };
}

async function openPostgres(config: { url: string; poolSize: number }): Promise<DbConnection> {
  const pg = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  // int8 (bigint) columns come back as strings by default; our money fits in a double exactly.
  pg.default.types.setTypeParser(20, (v: string) => Number(v));
  const pool = new pg.default.Pool({ connectionString: config.url, max: config.poolSize });
  const db = drizzle({ client: pool, schema }) as unknown as WfloDb;
  return { kind: 'postgres', db, close: () => pool.end() };
}

/**
 * One RDS Data API client per process (module scope), so warm Lambda invocations reuse its HTTPS
 * connections; created on first use so local runs never load the AWS SDK.
 */
let rdsDataClient: RDSDataClient | undefined;

async function openDataApi(config: {
  resourceArn: string;
  secretArn: string;
  database: string;
}): Promise<DbConnection> {
  const { RDSDataClient } = await import('@aws-sdk/client-rds-data');
  const { drizzle } = await import('drizzle-orm/aws-data-api/pg');
  if (!rdsDataClient) {
    rdsDataClient = new RDSDataClient({});
    // An auto-paused cluster answers DatabaseResumingException until it is up: wait instead of failing.
    rdsDataClient.middlewareStack.add(retryWhileResuming<ServiceInputTypes, ServiceOutputTypes>(), {
      step: 'finalizeRequest',
      name: 'wfloRetryWhileResuming',
    });
  }
  const db = drizzle(rdsDataClient, {
    schema,
    resourceArn: config.resourceArn,
    secretArn: config.secretArn,
    database: config.database,
  }) as unknown as WfloDb;
  // The HTTP client is shared by every connection in the process; there is no socket to close.
  return { kind: 'data-api', db, close: async () => {} };
}

/** Applies the SQL migrations in {@link MIGRATIONS_DIR}; safe to call on every start. */
export async function migrateDb(conn: DbConnection): Promise<void> {
  if (conn.kind === 'pglite') {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    // biome-ignore lint/suspicious/noExplicitAny: the driver-specific migrator wants its own db type; ours is the common supertype.
    await migrate(conn.db as any, { migrationsFolder: MIGRATIONS_DIR });
  } else if (conn.kind === 'postgres') {
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    // biome-ignore lint/suspicious/noExplicitAny: as above, driver-specific db type.
    await migrate(conn.db as any, { migrationsFolder: MIGRATIONS_DIR });
  } else {
    const { migrate } = await import('drizzle-orm/aws-data-api/pg/migrator');
    // biome-ignore lint/suspicious/noExplicitAny: as above, driver-specific db type.
    await migrate(conn.db as any, { migrationsFolder: MIGRATIONS_DIR });
  }
}
