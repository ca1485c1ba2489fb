import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { StoreConfig } from '../config.ts';

/**
 * Drizzle over any Postgres driver wflo supports; store code is written once against this. Without the
 * relational `db.query` API (no schema generic): the Lambdas' Data API driver does not build its metadata.
 */
export type WfloDb = PgDatabase<PgQueryResultHKT>;

/** An open database connection (the store port's adapter): PGlite, node-postgres, or the Aurora Data API. */
export interface DbConnection {
  readonly kind: StoreConfig['kind'];
  readonly db: WfloDb;
  close(): Promise<void>;
}

/**
 * Folder of the generated SQL migrations (drizzle-kit), shared by every driver. In a Lambda bundle this
 * module is inlined into `index.mjs`, so the folder is the `migrations/` copied next to the bundle.
 */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
