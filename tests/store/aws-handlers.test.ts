import { GetExecutionHistoryCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { closeRuntime, createRuntime, type Runtime, setRuntime } from '#shared/runtime';
import { handler as apiHandler } from '../../functions/api/handler.ts';
import { handler as statusHandler } from '../../functions/events/execution-status.ts';

const sfn = mockClient(SFNClient);
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:wflo-dev-agent-loop';
let runtime: Runtime;

beforeAll(async () => {
  // The AWS entry points over a real store (PGlite here), with Step Functions mocked at the SDK.
  runtime = await createRuntime(
    loadConfig({
      WFLO_DATA_DIR: 'memory://',
      WORKFLOW_STATE_MACHINES: JSON.stringify({ 'agent-loop': ARN }),
    }),
  );
  setRuntime(runtime);
});
afterAll(async () => {
  await closeRuntime();
});

function apiEvent(method: string, path: string, body?: unknown): Parameters<typeof apiHandler>[0] {
  const event: APIGatewayProxyEvent = {
    httpMethod: method,
    path,
    resource: '/{proxy+}',
    headers: { 'content-type': 'application/json', host: 'abc.execute-api.eu-west-1.amazonaws.com' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: path.slice(1) },
    stageVariables: null,
    requestContext: { stage: 'prod', requestId: 'r', identity: {} } as APIGatewayProxyEvent['requestContext'],
    body: body === undefined ? null : JSON.stringify(body),
    isBase64Encoded: false,
  };
  return event as unknown as Parameters<typeof apiHandler>[0];
}

describe('Lambda: functions/api/handler.ts (API Gateway proxy)', () => {
  it('starts an execution with StartExecution named after the execution id and records it running', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:x`, startDate: new Date() });

    // Act
    const res = await apiHandler(
      apiEvent('POST', '/workflows/agent-loop/executions', { input: { goal: 'g' }, budgetUsd: 1 }),
      {} as Context,
    );

    // Assess
    expect(res.statusCode).toBe(201);
    const body = JSON.parse(res.body) as { executionId: string; status: string };
    expect(body.status).toBe('running');
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).toMatchObject({
      stateMachineArn: ARN,
      name: body.executionId,
    });
    expect((await runtime.store.getExecution(body.executionId))?.budgetMicros).toBe(1_000_000);
  });

  it('answers 404 for a workflow that is not deployed, without calling Step Functions', async () => {
    sfn.reset();
    const res = await apiHandler(
      apiEvent('POST', '/workflows/nope/executions', { input: {} }),
      {} as Context,
    );
    expect(res.statusCode).toBe(404);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

describe('Lambda: functions/events/execution-status.ts (EventBridge)', () => {
  const statusEvent = (name: string, status: string, extra: Record<string, unknown> = {}) => ({
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    detail: { executionArn: `${ARN}:${name}`, stateMachineArn: ARN, name, status, ...extra },
  });

  it('records a run that timed out without reaching its own finish step, and charges its transitions', async () => {
    // Prepare: a history of two pages with 3 states entered.
    await runtime.store.createExecution({ id: 'timed-out-run', workflow: 'agent-loop', input: {} });
    await runtime.store.markRunning('timed-out-run');
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({
        events: [
          { type: 'ExecutionStarted', id: 1, timestamp: new Date() },
          { type: 'PassStateEntered', id: 2, timestamp: new Date() },
          { type: 'TaskStateEntered', id: 3, timestamp: new Date() },
        ],
        nextToken: 'page-2',
      })
      .resolvesOnce({
        events: [
          { type: 'MapStateEntered', id: 4, timestamp: new Date() },
          { type: 'ExecutionTimedOut', id: 5, timestamp: new Date() },
        ],
      });

    // Act
    await statusHandler(
      statusEvent('timed-out-run', 'TIMED_OUT', { error: 'States.Timeout', cause: 'too slow' }),
    );

    // Assess
    const row = await runtime.store.getExecution('timed-out-run');
    expect(row?.status).toBe('timed_out');
    expect(row?.error).toEqual({ error: 'States.Timeout', cause: 'too slow' });
    const calls = sfn.commandCalls(GetExecutionHistoryCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      {
        executionArn: `${ARN}:timed-out-run`,
        maxResults: 1000,
        includeExecutionData: false,
        nextToken: undefined,
      },
      {
        executionArn: `${ARN}:timed-out-run`,
        maxResults: 1000,
        includeExecutionData: false,
        nextToken: 'page-2',
      },
    ]);
    const ledger = await runtime.store.listCosts('timed-out-run');
    expect(ledger.map((c) => [c.kind, c.usdMicros])).toEqual([['transition', 75]]);
    expect(row?.costMicros).toBe(75);
  });

  it('leaves a status the workflow recorded itself (budget_exceeded) as it is', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    await runtime.store.createExecution({ id: 'budget-run', workflow: 'agent-loop', input: {} });
    await runtime.store.finishExecution({ id: 'budget-run', status: 'budget_exceeded' });
    await statusHandler(statusEvent('budget-run', 'FAILED', { error: 'BudgetExceededError' }));
    expect((await runtime.store.getExecution('budget-run'))?.status).toBe('budget_exceeded');
  });

  it('ignores RUNNING and unknown executions, and refuses other events', async () => {
    await expect(statusHandler(statusEvent('unknown-run', 'FAILED'))).resolves.toBeUndefined();
    await expect(statusHandler(statusEvent('budget-run', 'RUNNING'))).resolves.toBeUndefined();
    await expect(statusHandler({ 'detail-type': 'Something else', detail: {} })).rejects.toThrow(
      /not a Step Functions/,
    );
  });
});
