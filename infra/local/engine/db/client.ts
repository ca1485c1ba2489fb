import type { StoreConfig } from '#shared/config';
import type { DbConnection } from '#shared/db/connection';
import { timedStartupStep } from '../startup-timing.ts';

export { type DbConnection, MIGRATIONS_DIR, type WfloDb } from '#shared/db/connection';

/**
 * Opens whichever database the config names, and applies pending migrations: the any-driver opener of the
 * local target, the CLI and the tests. Each driver is its own module (pglite.ts, postgres.ts, data-api.ts),
 * loaded only when chosen, so a local run without DATABASE_URL never loads node-postgres and one with it
 * never loads PGlite.
 *
 * Lambda entry points must not import this module: esbuild would inline every driver it can reach,
 * PGlite included. They open the Data API through functions/shared/wiring/store.ts instead.
 * Migrations run by default, except on the Aurora Data API (a deploy-time custom resource applies them there).
 */
export async function openDb(
  config: StoreConfig,
  options: { migrate?: boolean } = {},
): Promise<DbConnection> {
  // Each part a step of `wflo dev --verbose`'s breakdown: loading the driver, opening, checking migrations.
  const conn =
    config.kind === 'pglite'
      ? await (await timedStartupStep('store: PGlite modules', import('./pglite.ts'))).openPglite(
          config.dataDir,
        )
      : config.kind === 'data-api'
        ? await (await import('#shared/db/data-api')).openDataApi(config)
        : await (await import('./postgres.ts')).openPostgres(config);
  // On AWS the deploy-time custom resource applies migrations once; Lambdas must not race to apply them.
  if (options.migrate ?? config.kind !== 'data-api')
    await timedStartupStep('store: migrations', migrateDb(conn));
  return conn;
}

/** Applies the SQL migrations with the connection's own driver; safe to call on every start. */
export async function migrateDb(conn: DbConnection): Promise<void> {
  if (conn.kind === 'pglite') await (await import('./pglite.ts')).migratePglite(conn);
  else if (conn.kind === 'postgres') await (await import('./postgres.ts')).migratePostgres(conn);
  else await (await import('#shared/db/data-api')).migrateDataApi(conn);
}
