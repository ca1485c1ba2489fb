import { RDSDataClient, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-rds-data';
import { drizzle } from 'drizzle-orm/aws-data-api/pg';
import { migrate } from 'drizzle-orm/aws-data-api/pg/migrator';
import type { StoreConfig } from '../config.ts';
import { type DbConnection, MIGRATIONS_DIR, type WfloDb } from './connection.ts';
import { retryWhileResuming } from './resume-retry.ts';

/** The Data API store's settings (set by the CDK constructs on AWS). */
export type DataApiConfig = Extract<StoreConfig, { kind: 'data-api' }>;

/**
 * One RDS Data API client per process (module scope), so warm Lambda invocations reuse its HTTPS
 * connections; created on first use so that importing this module costs no client.
 */
let rdsDataClient: RDSDataClient | undefined;

function client(): RDSDataClient {
  if (!rdsDataClient) {
    rdsDataClient = new RDSDataClient({});
    // An auto-paused cluster answers DatabaseResumingException until it is up: wait instead of failing.
    rdsDataClient.middlewareStack.add(retryWhileResuming<ServiceInputTypes, ServiceOutputTypes>(), {
      step: 'finalizeRequest',
      name: 'wfloRetryWhileResuming',
    });
  }
  return rdsDataClient;
}

/**
 * Opens Aurora through the RDS Data API (HTTPS, no VPC, no connection pool). The driver every AWS entry
 * point uses; it applies no migrations (the deploy-time custom resource does, see {@link migrateDataApi}).
 */
export async function openDataApi(config: DataApiConfig): Promise<DbConnection> {
  // No `schema`: wflo queries with the SQL-like builder only (WfloDb has no `db.query`), and drizzle's
  // relational metadata, built from every table at this call, cost each cold start ~8 ms of CPU.
  const db = drizzle(client(), {
    resourceArn: config.resourceArn,
    secretArn: config.secretArn,
    database: config.database,
  }) as unknown as WfloDb;
  // The HTTP client is shared by every connection in the process; there is no socket to close.
  return { kind: 'data-api', db, close: async () => {} };
}

/** Applies the SQL migrations in {@link MIGRATIONS_DIR} through the Data API (idempotent). */
export async function migrateDataApi(conn: DbConnection): Promise<void> {
  // biome-ignore lint/suspicious/noExplicitAny: the driver-specific migrator wants its own db type; ours is the common supertype.
  await migrate(conn.db as any, { migrationsFolder: MIGRATIONS_DIR });
}
