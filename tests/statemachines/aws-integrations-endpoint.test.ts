import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
} from '@aws-sdk/client-sfn';
import { NotFoundException, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { AwsIntegrations } from '../../infra/local/engine/integrations/resolver.ts';
import { LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import type { AslDefinition, Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * With an endpoint configured (AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL), Tasks call the service's real
 * SDK v3 client; the clients are mocked here (no network), so what is checked is what the engine sends, the
 * result it makes of the SDK's answer and the Step Functions error names it makes of the SDK's errors.
 */

const sns = mockClient(SNSClient);
const sfn = mockClient(SFNClient);
const dynamo = mockClient(DynamoDBClient);
const events = mockClient(EventBridgeClient);

let store: Store;
let closeStore: () => Promise<void>;
const ENDPOINTS = {
  AWS_ENDPOINT_URL_SNS: 'http://127.0.0.1:4566',
  AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:4566',
  AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:4566',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
};
const META = { httpStatusCode: 200, requestId: 'req-1', attempts: 1, totalRetryDelay: 0 };
let aws: AwsIntegrations;

const task = (resource: string, parameters: Record<string, unknown>): AslDefinition => ({
  StartAt: 'Call',
  States: { Call: { Type: 'Task', Resource: resource, Parameters: parameters, End: true } },
});

async function runOne(definition: AslDefinition, input: unknown = {}) {
  const name = `ep-${Math.random().toString(36).slice(2, 10)}`;
  const workflow: Workflow = { name, description: '', file: `${name}.asl.json`, definition, variables: [] };
  const o = new LocalOrchestrator({
    workflows: new Map([[name, workflow]]),
    functions: new Map(),
    store,
    retryIntervalScale: 0,
    aws,
  });
  const id = `${name}-run`;
  await store.createExecution({ id, workflow: name, input });
  const outcome = await o.start(name, id, input).done;
  return { id, outcome, events: await store.listEvents(id, 0, 1000) };
}

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
  aws = new AwsIntegrations({ store, env: ENDPOINTS });
});
afterEach(() => {
  sns.reset();
  sfn.reset();
  dynamo.reset();
  events.reset();
});
afterAll(async () => {
  await aws.close();
  await closeStore();
});

describe('Optimized integrations against a configured endpoint', () => {
  it('sns:publish sends the Message as JSON text and returns the SDK answer with SdkHttpMetadata; nothing is recorded locally', async () => {
    // Prepare
    sns.on(PublishCommand).resolves({ MessageId: 'm-1', $metadata: META });

    // Act
    const { outcome, events: rows } = await runOne(
      task('arn:aws:states:::sns:publish', { TopicArn: 'arn:aws:sns:us-east-1:1:t', 'Message.$': '$' }),
      { a: 1 },
    );

    // Assess
    expect(outcome.output).toMatchObject({
      MessageId: 'm-1',
      SdkHttpMetadata: { HttpStatusCode: 200 },
      SdkResponseMetadata: { RequestId: 'req-1' },
    });
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input).toEqual({
      TopicArn: 'arn:aws:sns:us-east-1:1:t',
      Message: '{"a":1}',
    });
    expect(rows.some((r) => r.type === 'integration.sns.published')).toBe(false);
  });

  it('names a declared SNS error SNS.<Name>Exception, with the cause Step Functions writes', async () => {
    // Prepare
    sns.on(PublishCommand).rejects(
      new NotFoundException({
        message: 'Topic does not exist',
        $metadata: { ...META, httpStatusCode: 404 },
      }),
    );

    // Act
    const { outcome } = await runOne(
      task('arn:aws:states:::sns:publish', { TopicArn: 'arn:aws:sns:us-east-1:1:gone', Message: 'x' }),
    );

    // Assess
    expect(outcome.error?.error).toBe('SNS.NotFoundException');
    expect(outcome.error?.cause).toMatch(
      /^Topic does not exist \(Service: AmazonSNS; Status Code: 404; Error Code: \w+; Request ID: req-1; Proxy: null\)$/,
    );
  });

  it('dynamodb:getItem adds SdkHttpMetadata; a failed condition is DynamoDB.ConditionalCheckFailedException', async () => {
    // Prepare
    dynamo
      .on(GetItemCommand)
      .resolvesOnce({ Item: { id: { S: 'a' } }, $metadata: META })
      .rejectsOnce(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: META }),
      );
    const get = task('arn:aws:states:::dynamodb:getItem', { TableName: 'tbl', Key: { id: { S: 'a' } } });

    // Act
    const ok = await runOne(get);
    const failed = await runOne(get);

    // Assess
    expect(ok.outcome.output).toMatchObject({
      Item: { id: { S: 'a' } },
      SdkHttpMetadata: { HttpStatusCode: 200 },
    });
    expect(failed.outcome.error?.error).toBe('DynamoDB.ConditionalCheckFailedException');
  });

  it('events:putEvents appends the run ARNs to Resources and fails with EventBridge.FailedEntry on a failed entry', async () => {
    // Prepare
    events.on(PutEventsCommand).resolves({
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }],
      FailedEntryCount: 1,
      $metadata: META,
    });

    // Act
    const { id, outcome } = await runOne(
      task('arn:aws:states:::events:putEvents', {
        Entries: [{ Source: 's', DetailType: 'd', Detail: { k: 1 } }],
      }),
    );

    // Assess
    const sent = events.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
    expect(sent.Detail).toBe('{"k":1}');
    expect(sent.Resources?.[1]).toMatch(new RegExp(`:execution:ep-[a-z0-9]+:${id}$`));
    expect(outcome.error?.error).toBe('EventBridge.FailedEntry');
    expect(JSON.parse(outcome.error!.cause)).toEqual({
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }],
      FailedEntryCount: 1,
    });
  });
});

describe('aws-sdk:<service>:<action> against a configured endpoint', () => {
  it('calls <Action>Command with the Parameters and returns the SDK result without $metadata, dates as ISO text', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: 'arn:e',
      status: 'SUCCEEDED',
      startDate: new Date('2026-01-02T03:04:05.000Z'),
      $metadata: META,
    });

    // Act
    const { outcome } = await runOne(
      task('arn:aws:states:::aws-sdk:sfn:describeExecution', { ExecutionArn: 'arn:e' }),
    );

    // Assess
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]!.args[0].input).toEqual({ ExecutionArn: 'arn:e' });
    expect(outcome.output).toEqual({
      executionArn: 'arn:e',
      status: 'SUCCEEDED',
      startDate: '2026-01-02T03:04:05.000Z',
    });
  });

  it('names errors <Service>.<Exception>, an undeclared one <Service>.<Service>Exception, and one that never reached the service SdkClientException', async () => {
    // Prepare
    sfn
      .on(DescribeExecutionCommand)
      .rejectsOnce(
        new ExecutionDoesNotExist({
          message: 'no such execution',
          $metadata: { ...META, httpStatusCode: 400 },
        }),
      )
      .rejectsOnce(
        new SFNServiceException({
          name: 'ValidationException',
          $fault: 'client',
          message: 'bad arn',
          $metadata: { ...META, httpStatusCode: 400 },
        }),
      )
      .rejectsOnce(new Error('connect ECONNREFUSED 127.0.0.1:4566'));
    const describe = task('arn:aws:states:::aws-sdk:sfn:describeExecution', { ExecutionArn: 'arn:e' });

    // Act
    const declared = await runOne(describe);
    const undeclared = await runOne(describe);
    const unreachable = await runOne(describe);

    // Assess
    expect(declared.outcome.error).toEqual({
      error: 'Sfn.ExecutionDoesNotExistException',
      cause: 'no such execution (Service: Sfn, Status Code: 400, Request ID: req-1)',
    });
    expect(undeclared.outcome.error?.error).toBe('Sfn.SfnException');
    expect(unreachable.outcome.error).toEqual({
      error: 'Sfn.SdkClientException',
      cause: 'Unable to execute HTTP request: connect ECONNREFUSED 127.0.0.1:4566',
    });
  });
});
