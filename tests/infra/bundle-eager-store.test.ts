import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { esbuildOptions, REPO_ROOT } from '../../infra/constructs/wflo-function.ts';
import { INIT_EVENTS } from './lambda-sandbox.ts';

/*
 * A module a Lambda bundle reaches through a dynamic `import()` is wrapped by esbuild in a lazy initialiser, and
 * so is every module it reaches, even those the bundle also imports statically: V8 then parses their code twice
 * and reads their bindings from closures. The Data API driver reaches drizzle's pg-core, which the whole store is
 * built on, so `await import('../db/data-api.ts')` (how the local target opens it, never loading the RDS client)
 * cost every Lambda's cold start ~20 M instructions. A Lambda bundle gets `#shared/wiring/lambda-db` as
 * lambda-db.bundled.ts (LAMBDA_DB_ALIAS), which imports the driver statically.
 */

const DATA_API = 'functions/shared/db/data-api.ts';

/** The bundle's modules that import `target` dynamically, and whether the bundle holds `target` at all. */
async function dynamicImporters(entry: string, target: string): Promise<{ holds: boolean; by: string[] }> {
  const { metafile } = await build({
    ...esbuildOptions(),
    minify: false,
    entryPoints: [join(REPO_ROOT, entry)],
    absWorkingDir: REPO_ROOT,
    write: false,
    outdir: 'out',
    metafile: true,
    logLevel: 'silent',
  });
  const by = Object.entries(metafile.inputs)
    .filter(([, input]) => input.imports.some((i) => i.path === target && i.kind === 'dynamic-import'))
    .map(([path]) => path);
  return { holds: target in metafile.inputs, by };
}

describe('Lambda bundles: the store driver is imported statically', () => {
  it.each(Object.keys(INIT_EVENTS))(
    '%s does not import the Data API driver lazily',
    async (entry) => {
      // GIVEN the entry point bundled as WfloFunction bundles it
      // WHEN the importers of the Data API driver are read from the metafile
      const { by } = await dynamicImporters(entry, DATA_API);

      // THEN none imports it with import(): no module of the store path is wrapped in a lazy initialiser
      expect(by, `${entry}: ${DATA_API} imported dynamically by ${by.join(', ')}`).toEqual([]);
    },
    60_000,
  );

  it('holds the driver in the bundle of a function over the store', async () => {
    // GIVEN an activity, whose first call is the store's
    // WHEN its bundle is read
    const { holds } = await dynamicImporters('functions/activities/execution-finish.ts', DATA_API);

    // THEN the driver is in it (so the check above looked at the path it guards)
    expect(holds).toBe(true);
  });
});
