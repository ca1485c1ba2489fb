import { describe, expect, it } from 'vitest';
import { bundleInMemory } from './bundle-in-memory.ts';

/*
 * Every AWS SDK package a Lambda bundle imports is loaded at its cold start, whether or not the function
 * ever calls it (a static ESM import of a client costs tens of milliseconds of CPU: its CJS module is
 * evaluated, and Node parses it for named exports). So each entry point may import only the clients it
 * calls. Bundled like WfloFunction bundles (BUNDLE_OPTIONS, the SDK external) and read from the metafile.
 */

/** The SDK packages each entry point calls, and so may import. */
const CALLS: Readonly<Record<string, readonly string[]>> = {
  // The API starts, stops and redrives executions, reads and decides approvals in their DynamoDB table and
  // resumes approval tasks; it never publishes to SNS.
  'functions/api/handler.ts': [
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/client-rds-data',
    '@aws-sdk/client-sfn',
    '@aws-sdk/lib-dynamodb',
  ],
  'functions/activities/approval-request.ts': [
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/client-rds-data',
    '@aws-sdk/client-sns',
    '@aws-sdk/lib-dynamodb',
  ],
  'functions/activities/execution-finish.ts': ['@aws-sdk/client-rds-data'],
};

/** The external `@aws-sdk/*` packages the bundle of `entry` imports, statically or dynamically. */
async function sdkImports(entry: string): Promise<string[]> {
  const { metafile } = await bundleInMemory(entry);
  const output = Object.values(metafile.outputs)[0]!;
  return [
    ...new Set(output.imports.filter((i) => i.external && i.path.startsWith('@aws-sdk/')).map((i) => i.path)),
  ].sort();
}

describe('Lambda bundles: the AWS SDK clients each one loads', () => {
  it.each(Object.entries(CALLS))(
    '%s imports only the SDK clients it calls',
    async (entry, calls) => {
      // GIVEN the entry point bundled as WfloFunction bundles it
      // WHEN its external SDK imports are read from the metafile
      const imported = await sdkImports(entry);

      // THEN they are exactly the clients it calls: none that only another function needs
      expect(imported, `${entry} imports ${imported.join(', ')}`).toEqual([...calls].sort());
    },
    60_000,
  );
});
