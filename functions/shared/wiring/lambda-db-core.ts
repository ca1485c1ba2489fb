import type { StoreConfig } from '../config.ts';
import type { DbConnection } from '../db/connection.ts';
import type { DataApiConfig } from '../db/data-api.ts';
import { ConfigError } from '../errors.ts';
import { getConfig } from './config.ts';

/** What `#shared/wiring/lambda-db` exports, however it reaches the Data API driver. */
export interface LambdaDb {
  /**
   * Opens the database of a Lambda: the Aurora Data API only. node-postgres is deliberately not reachable
   * from here: the stacks never set DATABASE_URL, the functions run outside the VPC (the Data API is HTTPS),
   * and a fleet of Lambdas each holding a pg pool would exhaust Aurora's connections without an RDS Proxy.
   * PGlite is local-only. A Lambda whose environment names another store fails at init with a clear message.
   */
  openLambdaDb(config: StoreConfig): Promise<DbConnection>;
  /** The Lambda's one database connection (the store and the store-backed response cache share it). */
  getLambdaDb(): Promise<DbConnection>;
}

/**
 * The Lambda's database wiring over `openDataApi`, which the two entries of `#shared/wiring/lambda-db`
 * reach differently: lambda-db.ts imports the driver on first use (what Node, the local target and the tests
 * load), lambda-db.bundled.ts imports it statically (what a Lambda bundle gets, see LAMBDA_DB_ALIAS in
 * infra/constructs/wflo-function.ts).
 */
export function lambdaDb(openDataApi: (config: DataApiConfig) => Promise<DbConnection>): LambdaDb {
  async function openLambdaDb(config: StoreConfig): Promise<DbConnection> {
    if (config.kind !== 'data-api') {
      throw new ConfigError(
        `a Lambda opens only the Aurora Data API store (DB_CLUSTER_ARN, DB_SECRET_ARN, DB_NAME); this environment selects "${config.kind}"`,
      );
    }
    return openDataApi(config);
  }

  let connection: Promise<DbConnection> | undefined;
  function getLambdaDb(): Promise<DbConnection> {
    connection ??= getConfig()
      .then((config) => openLambdaDb(config.store))
      .catch((error: unknown) => {
        connection = undefined;
        throw error;
      });
    return connection;
  }

  return { openLambdaDb, getLambdaDb };
}
