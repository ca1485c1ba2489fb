import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { migratePglite, openPglite } from '#local/engine/db/pglite';
import { CHAOS_SERVICES_ENV, chaosServiceUrls, services } from './harness.ts';
import { printResults, RESULTS_FILE } from './invariants.ts';
import { PGLITE_TEMPLATE } from './paths.ts';

/**
 * The chaos suite's PostgreSQL and Redis, started by the project's script on ports of their own (apart from
 * the integration suite's, which may run at the same time), and the table of every scenario's counts at the
 * end; and the migrated PGlite store every PGlite scenario starts from a copy of. The services are stopped afterwards: the suite restarts and stops them itself, so nothing else may
 * rely on them.
 */
export default async function setup(): Promise<() => Promise<void>> {
  mkdirSync(CHAOS_SERVICES_ENV.WFLO_SERVICES_DIR, { recursive: true });
  rmSync(RESULTS_FILE, { force: true });
  rmSync(PGLITE_TEMPLATE, { recursive: true, force: true });
  const [, template] = await Promise.all([chaosServiceUrls(), openPglite(join(PGLITE_TEMPLATE, 'pgdata'))]);
  await migratePglite(template);
  await template.close();
  return async () => {
    printResults();
    await services('stop-all').catch((error: Error) => console.error(`stopping services: ${error.message}`));
  };
}
