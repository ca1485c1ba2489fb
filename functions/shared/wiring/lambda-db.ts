import { lambdaDb } from './lambda-db-core.ts';

/*
 * The Lambda's database connection on its own, apart from the store built over it (wiring/store.ts), so that a
 * function needing a few statements (the relay: wiring/relay-store.ts) does not bundle every store module.
 * Import it as `#shared/wiring/lambda-db`: a Lambda bundle gets lambda-db.bundled.ts in its place.
 */

/**
 * The Data API driver is imported on first use: the local target loads this module with the activity handlers
 * but never opens the Data API, so it never loads the RDS client. A Lambda bundle does not contain this module:
 * esbuild would wrap every module the driver reaches (drizzle's pg-core included) to initialise it lazily, which
 * costs each cold start ~20 M instructions; lambda-db.bundled.ts imports it statically instead.
 */
export const { openLambdaDb, getLambdaDb } = lambdaDb(async (config) =>
  (await import('../db/data-api.ts')).openDataApi(config),
);
