import type { StoreConfig } from '../config.ts';
import type { DbConnection } from '../db/connection.ts';
import { ConfigError } from '../errors.ts';
import { getConfig } from './config.ts';

/*
 * The Lambda's database connection on its own, apart from the store built over it (wiring/store.ts), so that a
 * function needing a few statements (the relay: wiring/relay-store.ts) does not bundle every store module.
 */

/**
 * Opens the database of a Lambda: the Aurora Data API only. node-postgres is deliberately not reachable
 * from here: the stacks never set DATABASE_URL, the functions run outside the VPC (the Data API is HTTPS),
 * and a fleet of Lambdas each holding a pg pool would exhaust Aurora's connections without an RDS Proxy.
 * PGlite is local-only. A Lambda whose environment names another store fails at init with a clear message.
 */
export async function openLambdaDb(config: StoreConfig): Promise<DbConnection> {
  if (config.kind !== 'data-api') {
    throw new ConfigError(
      `a Lambda opens only the Aurora Data API store (DB_CLUSTER_ARN, DB_SECRET_ARN, DB_NAME); this environment selects "${config.kind}"`,
    );
  }
  // Imported on first use: the local target loads this module with the activity handlers but never opens
  // the Data API, so it never loads the RDS client. (esbuild inlines it into a Lambda bundle all the same.)
  const { openDataApi } = await import('../db/data-api.ts');
  return openDataApi(config);
}

let connection: Promise<DbConnection> | undefined;

/** The Lambda's one database connection (the store and the store-backed response cache share it). */
export function getLambdaDb(): Promise<DbConnection> {
  connection ??= getConfig()
    .then((config) => openLambdaDb(config.store))
    .catch((error: unknown) => {
      connection = undefined;
      throw error;
    });
  return connection;
}
