import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/shared/errors.ts';
import * as bundled from '../../../functions/shared/wiring/lambda-db.bundled.ts';
import * as local from '../../../functions/shared/wiring/lambda-db.ts';
import { REPO_ROOT } from '../../../infra/constructs/wflo-function.ts';

/*
 * `#shared/wiring/lambda-db` has two entries: lambda-db.ts, which Node resolves (the local target, the tests),
 * imports the Data API driver on first use; lambda-db.bundled.ts, which a Lambda bundle gets in its place
 * (LAMBDA_DB_ALIAS), imports it statically. Both must behave the same, and only the second may load the RDS
 * client at import.
 */

/** The RDS Data API client packages a fresh Node process has loaded after importing `module` (through tsx). */
function rdsModulesLoadedBy(module: string): string[] {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx/esm',
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module';
await import(process.argv[1]);
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('client-rds-data'));
console.log(JSON.stringify(loaded));`,
      join(REPO_ROOT, module),
    ],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as string[];
}

describe('#shared/wiring/lambda-db', () => {
  it('as Node resolves it (the local target) loads no RDS client with the store wiring', () => {
    // GIVEN the store's wiring, which every activity handler imports, loaded as `wflo dev` loads it
    // WHEN a fresh process imports it
    const loaded = rdsModulesLoadedBy('functions/shared/wiring/store.ts');

    // THEN the RDS Data API client was not loaded (only a Lambda opens the Data API)
    expect(loaded).toEqual([]);
  }, 60_000);

  it('as a Lambda bundle gets it loads the RDS client at import', () => {
    // GIVEN the entry the Lambda bundles get (LAMBDA_DB_ALIAS)
    // WHEN a fresh process imports it
    const loaded = rdsModulesLoadedBy('functions/shared/wiring/lambda-db.bundled.ts');

    // THEN the driver came with it (so the check above can see a loaded client)
    expect(loaded.length).toBeGreaterThan(0);
  }, 60_000);

  it.each([
    ['lambda-db.ts', local],
    ['lambda-db.bundled.ts', bundled],
  ])('%s opens only the Aurora Data API store', async (_name, entry) => {
    // GIVEN a store config that names another driver
    // WHEN a Lambda opens its database with it
    const open = entry.openLambdaDb({ kind: 'pglite', dataDir: 'memory://' });

    // THEN it fails with a ConfigError naming the Data API variables
    await expect(open).rejects.toBeInstanceOf(ConfigError);
    await expect(open).rejects.toThrow(/DB_CLUSTER_ARN, DB_SECRET_ARN, DB_NAME/);
  });
});
