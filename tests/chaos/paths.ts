import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new, empty PGlite data directory (WFLO_DATA_DIR) under a fresh temporary parent. */
export function freshDataDirPath(name: string): string {
  return join(mkdtempSync(join(tmpdir(), `wflo-chaos-${name}-`)), 'data');
}
