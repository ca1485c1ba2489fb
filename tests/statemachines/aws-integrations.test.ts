import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { ACTIVITIES } from '../../infra/activities.ts';
import {
  EMBEDDED_CREDENTIALS,
  EmbeddedDynamoDb,
} from '../../infra/local/engine/integrations/dynamodb-embedded.ts';
import { AwsIntegrations } from '../../infra/local/engine/integrations/resolver.ts';
import { type LocalIntegration, LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import { type AslDefinition, LOCAL_ACCOUNT, type Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * Users' own ASL calling AWS services, through the real local engine with no endpoint configured: SNS, SQS and
 * EventBridge recorded in the run's outbox, DynamoDB on the embedded dynalite (loopback), and what cannot run
 * refused at load (or, reachable only through a Catch, failed with States.Runtime when reached).
 */

let store: Store;
let closeStore: () => Promise<void>;
const activity = ACTIVITIES[0]!;
const NO_ENDPOINTS = {};
const integrationsToClose: AwsIntegrations[] = [];

function workflow(name: string, definition: AslDefinition): Workflow {
  return { name, description: '', file: `${name}.asl.json`, definition, variables: [] };
}

function orchestrator(
  workflows: Workflow[],
  options: { aws?: AwsIntegrations; integrations?: Map<string, LocalIntegration> } = {},
): LocalOrchestrator {
  const aws = options.aws ?? new AwsIntegrations({ store, env: NO_ENDPOINTS });
  integrationsToClose.push(aws);
  return new LocalOrchestrator({
    workflows: new Map(workflows.map((w) => [w.name, w])),
    functions: new Map([
      ['arn:aws:lambda:us-east-1:123456789012:function:echo', { activity, handler: async (e) => e }],
    ]),
    store,
    retryIntervalScale: 0,
    aws,
    ...(options.integrations ? { integrations: options.integrations } : {}),
  });
}

async function run(o: LocalOrchestrator, name: string, input: unknown = {}) {
  const id = `${name}-${Math.random().toString(36).slice(2)}`;
  await store.createExecution({ id, workflow: name, input });
  const outcome = await o.start(name, id, input).done;
  const events = await store.listEvents(id, 0, 1000);
  return { id, outcome, events };
}

const task = (resource: string, parameters: Record<string, unknown>, extra: object = {}): AslDefinition => ({
  StartAt: 'Call',
  States: { Call: { Type: 'Task', Resource: resource, Parameters: parameters, End: true, ...extra } },
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
});
afterAll(async () => {
  for (const aws of integrationsToClose) await aws.close();
  await closeStore();
});

describe('AWS service integrations run embedded when no endpoint is configured', () => {
  it('sns:publish records integration.sns.published and returns MessageId with the SDK metadata', async () => {
    // Prepare
    const topic = 'arn:aws:sns:us-east-1:123456789012:orders';
    const o = orchestrator([
      workflow('sns', task('arn:aws:states:::sns:publish', { TopicArn: topic, 'Message.$': '$.order' })),
    ]);

    // Act
    const { outcome, events } = await run(o, 'sns', { order: { id: 7 } });

    // Assess
    expect(outcome.status).toBe('succeeded');
    const out = outcome.output as Record<string, Record<string, unknown>>;
    expect(out.MessageId).toMatch(UUID);
    expect(out.SdkHttpMetadata!.HttpStatusCode).toBe(200);
    expect(out.SdkResponseMetadata!.RequestId).toMatch(UUID);
    const published = events.find((e) => e.type === 'integration.sns.published');
    expect(published?.payload).toMatchObject({
      state: 'Call',
      MessageId: out.MessageId,
      // Step Functions sends a non-string Message as its JSON text.
      request: { TopicArn: topic, Message: '{"id":7}' },
    });
  });

  it('sns:publish to a FIFO topic without MessageGroupId fails as SNS does', async () => {
    // Prepare
    const o = orchestrator([
      workflow(
        'sns-fifo',
        task('arn:aws:states:::sns:publish', {
          TopicArn: 'arn:aws:sns:us-east-1:123456789012:t.fifo',
          Message: 'x',
        }),
      ),
    ]);

    // Act
    const { outcome } = await run(o, 'sns-fifo');

    // Assess
    expect(outcome.error?.error).toBe('SNS.InvalidParameterException');
    expect(outcome.error?.cause).toMatch(
      /^Invalid parameter: The MessageGroupId parameter is required for FIFO topics \(Service: AmazonSNS; Status Code: 400; Error Code: InvalidParameter; Request ID: .+; Proxy: null\)$/,
    );
  });

  it('sqs:sendMessage returns the MD5 of the body and records integration.sqs.sent', async () => {
    // Prepare
    const o = orchestrator([
      workflow(
        'sqs',
        task('arn:aws:states:::sqs:sendMessage', {
          QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/q',
          MessageBody: 'hello',
          MessageAttributes: { a: { DataType: 'String', StringValue: 'b' } },
        }),
      ),
    ]);

    // Act
    const { outcome, events } = await run(o, 'sqs');

    // Assess
    const out = outcome.output as Record<string, unknown>;
    expect(out.MD5OfMessageBody).toBe(createHash('md5').update('hello').digest('hex'));
    expect(out.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    expect(out.MessageId).toMatch(UUID);
    expect(out).toHaveProperty('SdkHttpMetadata.HttpStatusCode', 200);
    expect(events.find((e) => e.type === 'integration.sqs.sent')?.payload).toMatchObject({
      MessageId: out.MessageId,
      request: { MessageBody: 'hello' },
    });
  });

  it('sqs:sendMessage without MessageBody fails with SQS.AmazonSQSException, which a Catch catches', async () => {
    // Prepare
    const o = orchestrator([
      workflow('sqs-missing', {
        StartAt: 'Send',
        States: {
          Send: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sqs:sendMessage',
            Parameters: { QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/q' },
            Catch: [{ ErrorEquals: ['SQS.AmazonSQSException'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Pass', End: true },
        },
      }),
    ]);

    // Act
    const { outcome } = await run(o, 'sqs-missing');

    // Assess
    expect(outcome.status).toBe('succeeded');
    expect(outcome.output).toMatchObject({ Error: 'SQS.AmazonSQSException' });
    expect((outcome.output as { Cause: string }).Cause).toContain(
      'The request must contain the parameter MessageBody. (Service: AmazonSQS; Status Code: 400; Error Code: MissingParameter;',
    );
  });

  it('events:putEvents answers EventIds, adds the run ARNs to Resources, and fails a bad entry with EventBridge.FailedEntry', async () => {
    // Prepare
    const o = orchestrator([
      workflow(
        'events',
        task('arn:aws:states:::events:putEvents', {
          Entries: [{ Source: 'shop', DetailType: 'order', Detail: { id: 1 } }],
        }),
      ),
      workflow(
        'events-bad',
        task('arn:aws:states:::events:putEvents', {
          Entries: [
            { Source: 'shop', DetailType: 'order', Detail: { id: 1 } },
            { Source: 'shop', DetailType: 'order', Detail: '"jsonstring"' },
          ],
        }),
      ),
    ]);

    // Act
    const good = await run(o, 'events');
    const bad = await run(o, 'events-bad');

    // Assess
    const out = good.outcome.output as { Entries: { EventId: string }[]; FailedEntryCount: number };
    expect(out).toEqual({ Entries: [{ EventId: expect.stringMatching(UUID) }], FailedEntryCount: 0 });
    const put = good.events.find((e) => e.type === 'integration.events.put')!;
    expect((put.payload as { entries: unknown }).entries).toEqual([
      {
        EventId: out.Entries[0]!.EventId,
        Source: 'shop',
        DetailType: 'order',
        Detail: '{"id":1}',
        EventBusName: 'default',
        Resources: [
          `arn:aws:states:us-east-1:${LOCAL_ACCOUNT}:stateMachine:events`,
          `arn:aws:states:us-east-1:${LOCAL_ACCOUNT}:execution:events:${good.id}`,
        ],
      },
    ]);
    expect(bad.outcome.error?.error).toBe('EventBridge.FailedEntry');
    expect(JSON.parse(bad.outcome.error!.cause)).toEqual({
      Entries: [
        { EventId: expect.stringMatching(UUID) },
        { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      ],
      FailedEntryCount: 1,
    });
  });

  it('aws-sdk:sns:publish answers the bare SDK result, without SdkHttpMetadata', async () => {
    // Prepare
    const o = orchestrator([
      workflow(
        'sdk-sns',
        task('arn:aws:states:::aws-sdk:sns:publish', {
          TopicArn: 'arn:aws:sns:us-east-1:123456789012:t',
          Message: 'm',
        }),
      ),
    ]);

    // Act
    const { outcome } = await run(o, 'sdk-sns');

    // Assess
    expect(outcome.output).toEqual({ MessageId: expect.stringMatching(UUID) });
  });
});

describe('DynamoDB on the embedded dynalite', () => {
  const TABLE = 'orders-table';
  const createTable = {
    Type: 'Task',
    Resource: 'arn:aws:states:::aws-sdk:dynamodb:createTable',
    Parameters: {
      TableName: TABLE,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    },
    ResultPath: null,
  };

  it('runs putItem, updateItem, getItem and a conditional put with DynamoDB semantics and error names', async () => {
    // Prepare
    const o = orchestrator([
      workflow('ddb', {
        StartAt: 'Create',
        States: {
          Create: { ...createTable, Next: 'Put' },
          Put: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:putItem',
            Parameters: { TableName: TABLE, Item: { id: { S: 'o1' }, n: { N: '1' } } },
            ResultPath: '$.put',
            Next: 'Update',
          },
          Update: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:updateItem',
            Parameters: {
              TableName: TABLE,
              Key: { id: { S: 'o1' } },
              UpdateExpression: 'ADD n :one SET #s = :s',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':one': { N: '1' }, ':s': { S: 'paid' } },
              ReturnValues: 'UPDATED_NEW',
            },
            ResultSelector: { 'Attributes.$': '$.Attributes' },
            ResultPath: '$.update',
            Next: 'Get',
          },
          Get: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:dynamodb:getItem',
            Parameters: { TableName: TABLE, Key: { id: { S: 'o1' } } },
            ResultPath: '$.get',
            Next: 'PutAgain',
          },
          PutAgain: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:putItem',
            Parameters: {
              TableName: TABLE,
              Item: { id: { S: 'o1' } },
              ConditionExpression: 'attribute_not_exists(id)',
            },
            Catch: [
              {
                ErrorEquals: ['DynamoDB.ConditionalCheckFailedException'],
                ResultPath: '$.caught',
                Next: 'Done',
              },
            ],
            ResultPath: '$.again',
            End: true,
          },
          Done: { Type: 'Pass', End: true },
        },
      }),
    ]);

    // Act
    const { outcome } = await run(o, 'ddb');

    // Assess
    expect(outcome.status).toBe('succeeded');
    const out = outcome.output as Record<string, Record<string, unknown>>;
    expect(out.put).toHaveProperty('SdkHttpMetadata.HttpStatusCode', 200);
    expect(out.put).toHaveProperty('SdkResponseMetadata.RequestId');
    expect(out.update).toEqual({ Attributes: { n: { N: '2' }, status: { S: 'paid' } } });
    expect(out.get).toEqual({ Item: { id: { S: 'o1' }, n: { N: '2' }, status: { S: 'paid' } } });
    expect(out.again).toBeUndefined();
    expect(out.caught!.Error).toBe('DynamoDB.ConditionalCheckFailedException');
    expect(out.caught!.Cause).toMatch(
      /^The conditional request failed \(Service: AmazonDynamoDBv2; Status Code: 400; Error Code: ConditionalCheckFailedException; Request ID: .+; Proxy: null\)$/,
    );
  });

  it('names aws-sdk errors with the DynamoDb prefix, an undeclared one as DynamoDb.DynamoDbException', async () => {
    // Prepare
    const o = orchestrator([
      workflow(
        'ddb-missing',
        task('arn:aws:states:::aws-sdk:dynamodb:putItem', {
          TableName: 'no-such-table',
          Item: { id: { S: 'x' } },
        }),
      ),
      workflow(
        'ddb-invalid',
        task('arn:aws:states:::aws-sdk:dynamodb:putItem', { TableName: 'no-such-table' }),
      ),
      workflow(
        'ddb-optimized-missing',
        task('arn:aws:states:::dynamodb:getItem', { TableName: 'no-such-table', Key: { id: { S: 'x' } } }),
      ),
    ]);

    // Act
    const missing = await run(o, 'ddb-missing');
    const invalid = await run(o, 'ddb-invalid');
    const optimized = await run(o, 'ddb-optimized-missing');

    // Assess
    expect(missing.outcome.error).toEqual({
      error: 'DynamoDb.ResourceNotFoundException',
      cause: expect.stringMatching(
        /^Requested resource not found \(Service: DynamoDb, Status Code: 400, Request ID: .+\)$/,
      ),
    });
    expect(invalid.outcome.error?.error).toBe('DynamoDb.DynamoDbException');
    expect(invalid.outcome.error?.cause).toMatch(
      /^1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null \(Service: DynamoDb/,
    );
    expect(optimized.outcome.error?.error).toBe('DynamoDB.ResourceNotFoundException');
  });

  it('keeps its data under the data directory across a restart, and creates the tables the tables file declares', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'wflo-ddb-'));
    const tablesFile = join(dir, 'dynamodb-tables.json');
    writeFileSync(
      tablesFile,
      JSON.stringify([
        {
          TableName: 'declared',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        },
      ]),
    );
    const put = workflow(
      'ddb-put',
      task('arn:aws:states:::dynamodb:putItem', { TableName: 'declared', Item: { pk: { S: 'kept' } } }),
    );
    const get = workflow(
      'ddb-get',
      task('arn:aws:states:::aws-sdk:dynamodb:getItem', {
        TableName: 'declared',
        Key: { pk: { S: 'kept' } },
      }),
    );
    const first = new AwsIntegrations({
      store,
      env: NO_ENDPOINTS,
      dynamoDb: { dir: join(dir, 'data'), tablesFile },
    });
    // The whole outcome, so a failure shows its error and cause rather than only 'failed'.
    const stored = await run(orchestrator([put], { aws: first }), 'ddb-put');
    expect(stored.outcome).toMatchObject({ status: 'succeeded' });
    await first.close();

    // Act
    const second = new AwsIntegrations({
      store,
      env: NO_ENDPOINTS,
      dynamoDb: { dir: join(dir, 'data'), tablesFile },
    });
    const { outcome } = await run(orchestrator([get], { aws: second }), 'ddb-get');

    // Assess
    expect(outcome.output).toEqual({ Item: { pk: { S: 'kept' } } });
  });
});

describe('The embedded DynamoDB at start-up', () => {
  it('hands out its endpoint only once the declared tables are ACTIVE (dynalite creates them CREATING first)', async () => {
    // Prepare: a window in which dynalite keeps the new table CREATING and refuses item calls
    const dir = mkdtempSync(join(tmpdir(), 'wflo-ddb-active-'));
    const tablesFile = join(dir, 'dynamodb-tables.json');
    writeFileSync(
      tablesFile,
      JSON.stringify([
        {
          TableName: 'slow',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        },
      ]),
    );
    const ddb = new EmbeddedDynamoDb({ tablesFile, region: 'us-east-1', createTableMs: 300 });

    // Act
    const client = new DynamoDBClient({
      endpoint: await ddb.endpoint(),
      region: 'us-east-1',
      credentials: EMBEDDED_CREDENTIALS,
    });
    const put = client.send(new PutItemCommand({ TableName: 'slow', Item: { pk: { S: 'first' } } }));

    // Assess
    try {
      await expect(put).resolves.toBeDefined();
    } finally {
      client.destroy();
      await ddb.close();
    }
  });
});

describe('What cannot run locally', () => {
  const load = (definition: AslDefinition) => () => orchestrator([workflow('refused', definition)]);

  it('refuses at load, naming the state and the integration, what has no endpoint and no embedded stand-in', () => {
    expect(load(task('arn:aws:states:::aws-sdk:sfn:listStateMachines', {}))).toThrow(
      "refused.asl.json: the local runtime cannot run state 'Call': integration 'arn:aws:states:::aws-sdk:sfn:listStateMachines' cannot run locally: no SFN endpoint is configured (set AWS_ENDPOINT_URL_SFN or AWS_ENDPOINT_URL",
    );
    expect(load(task('arn:aws:states:::aws-sdk:kinesis:putRecord', {}))).toThrow(
      'it needs the AWS SDK package @aws-sdk/client-kinesis, which is not installed',
    );
    expect(load(task('arn:aws:states:::aws-sdk:dynamodb:noSuchThing', {}))).toThrow(
      "@aws-sdk/client-dynamodb has no action 'noSuchThing'",
    );
    expect(load(task('arn:aws:states:::sns:createTopic', {}))).toThrow(
      'Step Functions has no optimized sns:createTopic integration',
    );
    expect(load(task('arn:aws:states:::dynamodb:putItem.waitForTaskToken', {}))).toThrow(
      'dynamodb:putItem does not support the .waitForTaskToken pattern',
    );
    expect(load(task('arn:aws:states:::glue:startJobRun.sync', {}))).toThrow(
      "state 'Call': integration 'arn:aws:states:::glue:startJobRun.sync' cannot run locally",
    );
  });

  it('loads a state reachable only through a Catch, and fails with States.Runtime the run that reaches it', async () => {
    // Prepare
    const o = orchestrator([
      workflow('catch-only', {
        StartAt: 'Fail',
        States: {
          Fail: {
            Type: 'Task',
            Resource: 'arn:aws:states:::events:putEvents',
            Parameters: { Entries: [{ Source: 's', DetailType: 'd', Detail: '[]' }] },
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Report' }],
            End: true,
          },
          Report: {
            Type: 'Task',
            Resource: 'arn:aws:states:::glue:startJobRun.sync',
            Parameters: { JobName: 'report' },
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Never' }],
            End: true,
          },
          Never: { Type: 'Pass', End: true },
          Unreachable: { Type: 'Task', Resource: 'arn:aws:states:::batch:submitJob.sync', End: true },
        },
      }),
    ]);

    // Act
    const { outcome } = await run(o, 'catch-only');

    // Assess: States.Runtime is not caught by States.ALL.
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.error).toBe('States.Runtime');
    expect(outcome.error?.cause).toContain(
      "state 'Report': integration 'arn:aws:states:::glue:startJobRun.sync' cannot run locally",
    );
  });

  it('lets an exact local integration serve an aws-sdk resource when no endpoint is configured', async () => {
    // Prepare
    const served: unknown[] = [];
    const o = orchestrator(
      [workflow('exact', task('arn:aws:states:::aws-sdk:s3:getObject', { Bucket: 'b', Key: 'k' }))],
      {
        integrations: new Map([
          [
            'arn:aws:states:::aws-sdk:s3:getObject',
            async (params: unknown) => {
              served.push(params);
              return { Body: 'local' };
            },
          ],
        ]),
      },
    );

    // Act
    const { outcome } = await run(o, 'exact');

    // Assess
    expect(outcome.output).toEqual({ Body: 'local' });
    expect(served).toEqual([{ Bucket: 'b', Key: 'k' }]);
  });
});
