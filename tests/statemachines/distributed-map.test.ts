import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { LocalS3 } from '../../infra/local/engine/integrations/s3.ts';
import { LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import type { Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * Distributed Map and the embedded S3 through the real local engine and store, with the S3 in a directory as
 * the runtime has it: ItemReader (JSON, JSONL, CSV with FIRST_ROW and GIVEN headers, MaxItems, an S3 listing),
 * the tolerated-failure thresholds, ResultWriter's files, and the aws-sdk:s3 Tasks.
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
 * https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
 */

let store: Store;
let closeStore: () => Promise<void>;
let root: string;
let s3: LocalS3;

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
  root = mkdtempSync(join(tmpdir(), 'wflo-s3-'));
  s3 = new LocalS3(root);
}, 120_000);
afterAll(async () => {
  await closeStore();
});

function workflow(name: string, definition: object): Workflow {
  return {
    name,
    description: name,
    file: `${name}.asl.json`,
    definition: definition as never,
    variables: [],
  };
}

async function run(definition: object, input: object = {}) {
  const name = `dmap-${Math.random().toString(36).slice(2, 8)}`;
  const o = new LocalOrchestrator({
    workflows: new Map([[name, workflow(name, definition)]]),
    functions: new Map(),
    store,
    s3,
    retryIntervalScale: 0,
  });
  const id = `${name}-run`;
  await store.createExecution({ id, workflow: name, input, running: true });
  await o.start(name, id, input).done;
  return (await store.getExecution(id))!;
}

const distributed = { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } };
const echoProcessor = { ...distributed, StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } };
/** Fails the items whose `fail` is true (as a string from CSV or a boolean from JSON). */
const failingProcessor = {
  ...distributed,
  StartAt: 'Check',
  States: {
    Check: {
      Type: 'Choice',
      Choices: [{ Variable: '$.fail', BooleanEquals: true, Next: 'Boom' }],
      Default: 'Ok',
    },
    Boom: { Type: 'Fail', Error: 'ItemError', Cause: 'item failed' },
    Ok: { Type: 'Pass', End: true },
  },
};
const mapOver = (reader: object, extra: object = {}) => ({
  StartAt: 'Fan',
  States: { Fan: { Type: 'Map', ItemReader: reader, ItemProcessor: echoProcessor, End: true, ...extra } },
});

describe('ItemReader reads its items from the local S3', () => {
  it('JSON: the array in the object, cut to MaxItems', async () => {
    // Prepare
    await s3.putObject('data', 'in/items.json', JSON.stringify([{ a: 1 }, { a: 2 }, { a: 3 }]));

    // Act
    const row = await run(
      mapOver({
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON', MaxItems: 2 },
        Parameters: { Bucket: 'data', 'Key.$': '$.key' },
      }),
      { key: 'in/items.json' },
    );

    // Assess
    expect(row.status).toBe('succeeded');
    expect(row.output).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it('JSONL: one item per line, with ItemSelector and $$.Map.Item.Index', async () => {
    // Prepare
    await s3.putObject('data', 'in/items.jsonl', '{"a":1}\n{"a":2}\r\n\n{"a":3}\n');

    // Act
    const row = await run(
      mapOver(
        {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSONL' },
          Parameters: { Bucket: 'data', Key: 'in/items.jsonl' },
        },
        { ItemSelector: { 'i.$': '$$.Map.Item.Index', 'v.$': '$$.Map.Item.Value.a' } },
      ),
    );

    // Assess
    expect(row.output).toEqual([
      { i: 0, v: 1 },
      { i: 1, v: 2 },
      { i: 2, v: 3 },
    ]);
  });

  it('CSV with a header row: objects of strings; quoted fields keep commas and quotes', async () => {
    // Prepare
    await s3.putObject('data', 'in/rows.csv', 'id,name\r\n1,"Smith, J"\r\n2,"say ""hi"""\r\n');

    // Act
    const row = await run(
      mapOver({
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' },
        Parameters: { Bucket: 'data', Key: 'in/rows.csv' },
      }),
    );

    // Assess
    expect(row.output).toEqual([
      { id: '1', name: 'Smith, J' },
      { id: '2', name: 'say "hi"' },
    ]);
  });

  it('CSV with GIVEN headers reads every row as data', async () => {
    // Prepare
    await s3.putObject('data', 'in/plain.csv', '1,x\n2,y\n');

    // Act
    const row = await run(
      mapOver({
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'GIVEN', CSVHeaders: ['n', 'letter'] },
        Parameters: { Bucket: 'data', Key: 'in/plain.csv' },
      }),
    );

    // Assess
    expect(row.output).toEqual([
      { n: '1', letter: 'x' },
      { n: '2', letter: 'y' },
    ]);
  });

  it('listObjectsV2: one item per object under the prefix', async () => {
    // Prepare
    await s3.putObject('listing', 'logs/b.txt', 'bb');
    await s3.putObject('listing', 'logs/a.txt', 'a');
    await s3.putObject('listing', 'other/c.txt', 'c');

    // Act
    const row = await run(
      mapOver({
        Resource: 'arn:aws:states:::s3:listObjectsV2',
        Parameters: { Bucket: 'listing', Prefix: 'logs/' },
      }),
    );

    // Assess
    expect(row.status).toBe('succeeded');
    const items = row.output as { Key: string; Size: number; Etag: string; StorageClass: string }[];
    expect(items.map((i) => [i.Key, i.Size])).toEqual([
      ['logs/a.txt', 1],
      ['logs/b.txt', 2],
    ]);
    expect(items[0]!.Etag).toBe('"0cc175b9c0f1b6a831c399e269772661"');
    expect(items[0]!.StorageClass).toBe('STANDARD');
  });

  it('a missing object fails the Map with States.ItemReaderFailed', async () => {
    // Act
    const row = await run(
      mapOver({
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: 'data', Key: 'nothing-here.json' },
      }),
    );

    // Assess
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'States.ItemReaderFailed' });
  });
});

describe('tolerated failures', () => {
  const items = [{ fail: true }, { fail: false }, { fail: true }, { fail: false }];
  const map = (extra: object) => ({
    StartAt: 'Fan',
    States: {
      Fan: { Type: 'Map', ItemsPath: '$.items', ItemProcessor: failingProcessor, End: true, ...extra },
    },
  });

  it('with no threshold one failed item fails the Map with States.ExceedToleratedFailureThreshold', async () => {
    const row = await run(map({}), { items: [{ fail: false }, { fail: true }] });
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'States.ExceedToleratedFailureThreshold' });
  });

  it('ToleratedFailureCount 2 tolerates two failed items of four', async () => {
    const row = await run(map({ ToleratedFailureCount: 2 }), { items });
    expect(row.status).toBe('succeeded');
    const out = row.output as unknown[];
    expect(out[1]).toEqual({ fail: false });
    expect(out[0]).toEqual({ Error: 'ItemError', Cause: 'item failed' });
  });

  it('ToleratedFailureCount 1 does not tolerate two', async () => {
    const row = await run(map({ ToleratedFailureCount: 1 }), { items });
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'States.ExceedToleratedFailureThreshold' });
  });

  it('ToleratedFailurePercentage 50 tolerates half, 49 does not', async () => {
    const ok = await run(map({ ToleratedFailurePercentage: 50 }), { items });
    const over = await run(map({ ToleratedFailurePercentagePath: '$.pct' }), { items, pct: 49 });
    expect(ok.status).toBe('succeeded');
    expect(over.status).toBe('failed');
    expect(over.error).toMatchObject({ error: 'States.ExceedToleratedFailureThreshold' });
  });

  it('an inline Map keeps failing with the item’s own error', async () => {
    const row = await run(
      {
        StartAt: 'Fan',
        States: {
          Fan: {
            Type: 'Map',
            ItemsPath: '$.items',
            ItemProcessor: { ...failingProcessor, ProcessorConfig: { Mode: 'INLINE' } },
            End: true,
          },
        },
      },
      { items },
    );
    expect(row.error).toMatchObject({ error: 'ItemError' });
  });
});

describe('ResultWriter', () => {
  it('writes manifest.json, SUCCEEDED_0.json and FAILED_0.json under <Prefix>/<map run id>/', async () => {
    // Prepare
    const definition = {
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Map',
          Label: 'Fanout',
          ItemsPath: '$.items',
          ItemProcessor: failingProcessor,
          ToleratedFailureCount: 1,
          ResultWriter: {
            Resource: 'arn:aws:states:::s3:putObject',
            Parameters: { Bucket: 'results', Prefix: 'runs' },
          },
          End: true,
        },
      },
    };

    // Act
    const row = await run(definition, {
      items: [
        { fail: false, n: 1 },
        { fail: true, n: 2 },
      ],
    });

    // Assess
    expect(row.status).toBe('succeeded');
    const out = row.output as { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
    expect(out.MapRunArn).toMatch(
      /^arn:aws:states:[^:]+:\d{12}:mapRun:dmap-[a-z0-9]+\/Fanout:[0-9a-f-]{36}$/,
    );
    const runId = out.MapRunArn.split(':').at(-1)!;
    expect(out.ResultWriterDetails).toEqual({ Bucket: 'results', Key: `runs/${runId}/manifest.json` });
    const dir = join(root, 'results', 'runs', runId);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const succeeded = JSON.parse(readFileSync(join(dir, 'SUCCEEDED_0.json'), 'utf8'));
    const failed = JSON.parse(readFileSync(join(dir, 'FAILED_0.json'), 'utf8'));
    expect(manifest).toMatchObject({
      DestinationBucket: 'results',
      MapRunArn: out.MapRunArn,
      ResultFiles: {
        FAILED: [{ Key: `runs/${runId}/FAILED_0.json` }],
        PENDING: [],
        SUCCEEDED: [{ Key: `runs/${runId}/SUCCEEDED_0.json` }],
      },
    });
    expect(succeeded).toHaveLength(1);
    expect(succeeded[0]).toMatchObject({
      Status: 'SUCCEEDED',
      Input: '{"fail":false,"n":1}',
      Output: '{"fail":false,"n":1}',
    });
    expect(failed[0]).toMatchObject({ Status: 'FAILED', Error: 'ItemError', Cause: 'item failed' });
  });
});

describe('aws-sdk:s3 Tasks', () => {
  it('putObject, getObject and listObjectsV2 round-trip through the local S3; a missing key is S3.NoSuchKeyException', async () => {
    // Act
    const row = await run(
      {
        StartAt: 'Put',
        States: {
          Put: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:s3:putObject',
            Parameters: { Bucket: 'sdk', Key: 'notes/n1.txt', 'Body.$': '$.text' },
            ResultPath: '$.put',
            Next: 'Get',
          },
          Get: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:s3:getObject',
            Parameters: { Bucket: 'sdk', Key: 'notes/n1.txt' },
            ResultSelector: { 'body.$': '$.Body', 'etag.$': '$.ETag' },
            ResultPath: '$.get',
            Next: 'List',
          },
          List: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:s3:listObjectsV2',
            Parameters: { Bucket: 'sdk', Prefix: 'notes/' },
            ResultSelector: { 'keys.$': '$.Contents[*].Key', 'count.$': '$.KeyCount' },
            ResultPath: '$.list',
            Next: 'Missing',
          },
          Missing: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:s3:getObject',
            Parameters: { Bucket: 'sdk', Key: 'notes/none.txt' },
            Catch: [{ ErrorEquals: ['S3.NoSuchKeyException'], ResultPath: '$.missing', Next: 'Done' }],
            End: true,
          },
          Done: { Type: 'Pass', End: true },
        },
      },
      { text: 'hello' },
    );

    // Assess
    expect(row.status).toBe('succeeded');
    const out = row.output as Record<string, Record<string, unknown>>;
    expect(out.put!.ETag).toBe('"5d41402abc4b2a76b9719d911017c592"');
    expect(out.get).toEqual({ body: 'hello', etag: '"5d41402abc4b2a76b9719d911017c592"' });
    expect(out.list).toEqual({ keys: ['notes/n1.txt'], count: 1 });
    expect(out.missing!.Error).toBe('S3.NoSuchKeyException');
    expect(readFileSync(join(root, 'sdk', 'notes', 'n1.txt'), 'utf8')).toBe('hello');
  });

  it('refuses a key that would climb out of its bucket', async () => {
    const row = await run({
      StartAt: 'Put',
      States: {
        Put: {
          Type: 'Task',
          Resource: 'arn:aws:states:::aws-sdk:s3:putObject',
          Parameters: { Bucket: 'sdk', Key: '../../escape.txt', Body: 'x' },
          End: true,
        },
      },
    });
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'S3.InvalidArgumentException' });
  });
});

describe('refused at load', () => {
  const load = (definition: object) => {
    try {
      new LocalOrchestrator({
        workflows: new Map([['dmap-refused', workflow('dmap-refused', definition)]]),
        functions: new Map(),
        store,
      });
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('an ItemReader on an inline Map, and an input type not read locally, name the state', () => {
    const inline = load({
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Map',
          ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON' } },
          ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } },
          End: true,
        },
      },
    });
    const parquet = load({
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Map',
          ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'PARQUET' } },
          ItemProcessor: echoProcessor,
          End: true,
        },
      },
    });
    expect(inline).toContain(
      "state 'Fan': ItemReader and ResultWriter need ItemProcessor.ProcessorConfig.Mode DISTRIBUTED",
    );
    expect(parquet).toContain('state \'Fan\': ItemReader InputType "PARQUET" is not read locally');
  });
});
