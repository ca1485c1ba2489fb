import { describe, expect, it } from 'vitest';
import { bundleInMemory } from './bundle-in-memory.ts';
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
  const { metafile } = await bundleInMemory(entry);
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

/** The tables (by SQL name) whose `pgTable` call a bundle of `entry` holds. */
async function bundledTables(entry: string): Promise<string[]> {
  const { outputFiles } = await bundleInMemory(entry);
  const text = outputFiles.map((f) => f.text).join('\n');
  return [...new Set([...text.matchAll(/\bpgTable\(\s*"([a-z_]+)"/g)].map((m) => m[1]!))].sort();
}

/*
 * functions/shared/db/schema.ts declares every table (drizzle-kit reads them all), each through a call marked
 * pure, so that a bundle builds at its cold start only the tables its code names: none of the local engine's
 * response cache, lock or approval tables for an activity that uses another adapter or none.
 */
describe('Lambda bundles: only the tables their code names', () => {
  it.each([
    // The relay reads the outbox and moves its cursor (events references executions).
    ['functions/events/outbox-relay.ts', ['events', 'executions', 'relay_cursor']],
    // An activity over the store only: the store's tables, none of the adapters' (approvals, cache, locks).
    [
      'functions/activities/execution-finish.ts',
      [
        'activity_results',
        'budget_reservations',
        'cost_entries',
        'engine_journal',
        'events',
        'executions',
        'relay_cursor',
        'steps',
      ],
    ],
  ])(
    '%s builds %j',
    async (entry, tables) => {
      // GIVEN the entry point bundled as WfloFunction bundles it
      // WHEN the tables it builds are read from the bundle
      const built = await bundledTables(entry);

      // THEN they are the ones its code uses
      expect(built).toEqual(tables);
    },
    60_000,
  );

  it('lock-acquire builds the lock table of the store adapter and no other adapter table', async () => {
    // GIVEN the lock activity (its store adapter is the locks table when no Valkey is configured)
    // WHEN the tables it builds are read from the bundle
    const built = await bundledTables('functions/activities/lock-acquire.ts');

    // THEN the locks table is there, the response cache's, approvals' and fenced documents' are not
    expect(built).toContain('locks');
    expect(built).not.toContain('cache_entries');
    expect(built).not.toContain('approvals');
    expect(built).not.toContain('fenced_documents');
  }, 60_000);
});
