import { openDataApi } from '../db/data-api.ts';
import { lambdaDb } from './lambda-db-core.ts';

/*
 * `#shared/wiring/lambda-db` in a Lambda bundle (LAMBDA_DB_ALIAS in infra/constructs/wflo-function.ts): the Data
 * API driver imported statically, since a Lambda always opens it. The dynamic import of lambda-db.ts (which the
 * local target needs) made esbuild wrap every module the driver reaches, drizzle's pg-core included, in a lazy
 * initialiser: ~20 M more instructions per cold start (`npm run bench -- cold-start`).
 */
export const { openLambdaDb, getLambdaDb } = lambdaDb(openDataApi);
