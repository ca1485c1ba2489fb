import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHAOS_SERVICES_ENV } from './harness.ts';

/**
 * A migrated, empty PGlite store the chaos suite's global setup makes once: a fresh data directory starts
 * from a copy of it, because creating and migrating PGlite takes a minute and more on a loaded 2-core machine
 * and would be most of each scenario's time.
 */
export const PGLITE_TEMPLATE = join(CHAOS_SERVICES_ENV.WFLO_SERVICES_DIR, 'pglite-template');

/**
 * A new PGlite data directory (WFLO_DATA_DIR) under a fresh temporary parent: a copy of the migrated
 * template when there is one, else empty (`wflo dev` creates it).
 */
export function freshDataDirPath(name: string): string {
  const dataDir = join(mkdtempSync(join(tmpdir(), `wflo-chaos-${name}-`)), 'data');
  if (existsSync(join(PGLITE_TEMPLATE, 'pgdata', 'PG_VERSION')))
    cpSync(PGLITE_TEMPLATE, dataDir, { recursive: true });
  return dataDir;
}
