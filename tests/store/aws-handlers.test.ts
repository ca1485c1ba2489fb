import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent, Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeRuntime, createRuntime, type Runtime, setRuntime } from '#local/engine/wiring';
import { loadConfig } from '#shared/config';
import { ReconcileFailedError } from '#shared/errors';
import { EXECUTION_NOT_FOUND, RECONCILE_DEFAULTS } from '#shared/reconcile';
import { handler as apiHandler } from '../../functions/api/handler.ts';
import { handler as statusHandler } from '../../functions/events/execution-status.ts';
import { handler as reconcilerHandler } from '../../functions/events/reconciler.ts';

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
afterEach(() => {
  sfn.reset();
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

describe('Lambda: functions/events/execution-status.ts (EventBridge rule → SQS)', () => {
  const statusEvent = (name: string, status: string, extra: Record<string, unknown> = {}) => ({
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    detail: { executionArn: `${ARN}:${name}`, stateMachineArn: ARN, name, status, ...extra },
  });
  /** The SQS batch the queue delivers: each body is the EventBridge event as the rule sent it. */
  const sqsBatch = (...bodies: unknown[]): SQSEvent =>
    ({
      Records: bodies.map((body, i) => ({
        messageId: `m${i}`,
        body: typeof body === 'string' ? body : JSON.stringify(body),
      })),
    }) as SQSEvent;

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
    const res = await statusHandler(
      sqsBatch(statusEvent('timed-out-run', 'TIMED_OUT', { error: 'States.Timeout', cause: 'too slow' })),
    );

    // Assess
    expect(res.batchItemFailures).toEqual([]);
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
    await statusHandler(sqsBatch(statusEvent('budget-run', 'FAILED', { error: 'BudgetExceededError' })));
    expect((await runtime.store.getExecution('budget-run'))?.status).toBe('budget_exceeded');
  });

  it('ignores RUNNING and unknown executions, and hands other messages back to SQS', async () => {
    const res = await statusHandler(
      sqsBatch(
        statusEvent('unknown-run', 'FAILED'),
        statusEvent('budget-run', 'RUNNING'),
        { 'detail-type': 'Something else', detail: {} },
        'not json',
      ),
    );
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }]);
  });

  it('reports only the message that failed, so SQS redelivers it alone while the others are recorded', async () => {
    // Prepare: two runs that ended; reading the history of the second fails.
    for (const id of ['batch-ok', 'batch-broken']) {
      await runtime.store.createExecution({ id, workflow: 'agent-loop', input: {} });
      await runtime.store.markRunning(id);
    }
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn
      .on(GetExecutionHistoryCommand, { executionArn: `${ARN}:batch-broken` })
      .rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));

    // Act
    const res = await statusHandler(
      sqsBatch(statusEvent('batch-ok', 'ABORTED'), statusEvent('batch-broken', 'FAILED')),
    );

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect((await runtime.store.getExecution('batch-ok'))?.status).toBe('cancelled');
    expect((await runtime.store.getExecution('batch-broken'))?.status).toBe('running');
  });
});

describe('Lambda: functions/events/reconciler.ts (EventBridge schedule)', () => {
  const EXECUTIONS = 'arn:aws:states:eu-west-1:123456789012:execution:wflo-dev-agent-loop';
  const context = { getRemainingTimeInMillis: () => 60_000 };
  const described = () => sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input.executionArn);
  const createRun = async (id: string, status: 'pending' | 'running' = 'running') => {
    await runtime.store.createExecution({ id, workflow: 'agent-loop', input: {} });
    if (status === 'running') await runtime.store.markRunning(id);
  };
  /** Runs the handler as if it fired `minutes` from now (only Date is faked; timers and the store run as usual). */
  const reconcileLater = async (minutes: number) => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + minutes * 60_000);
    try {
      return await reconcilerHandler({}, context);
    } finally {
      vi.useRealTimers();
    }
  };

  it('describes nothing created within the grace period', async () => {
    // Prepare
    await createRun('rc-fresh');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED', output: '{}' });

    // Act
    const report = await reconcilerHandler({}, context);

    // Assess
    expect(described()).toEqual([]);
    expect(report.described).toBe(0);
    expect((await runtime.store.getExecution('rc-fresh'))?.status).toBe('running');
  });

  it('moves stale rows to the end Step Functions reports and leaves running ones alone', async () => {
    // Prepare
    await createRun('rc-succeeded');
    await createRun('rc-failed');
    await createRun('rc-running');
    await createRun('rc-missing', 'pending');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    sfn
      .on(DescribeExecutionCommand, { executionArn: `${EXECUTIONS}:rc-succeeded` })
      .resolves({ status: 'SUCCEEDED', output: '{"answer":42}' })
      .on(DescribeExecutionCommand, { executionArn: `${EXECUTIONS}:rc-failed` })
      .resolves({ status: 'FAILED', error: 'States.TaskFailed', cause: 'boom' })
      .on(DescribeExecutionCommand, { executionArn: `${EXECUTIONS}:rc-missing` })
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));

    // Act
    const report = await reconcileLater(RECONCILE_DEFAULTS.graceMs / 60_000 + 5);

    // Assess
    const row = (id: string) => runtime.store.getExecution(id);
    expect(await row('rc-succeeded')).toMatchObject({ status: 'succeeded', output: { answer: 42 } });
    expect(await row('rc-failed')).toMatchObject({
      status: 'failed',
      error: { error: 'States.TaskFailed', cause: 'boom' },
    });
    expect((await row('rc-running'))?.status).toBe('running');
    expect((await row('rc-missing'))?.error).toMatchObject({ error: EXECUTION_NOT_FOUND });
    expect((await row('rc-missing'))?.status).toBe('failed');
    expect(described()).toEqual(
      expect.arrayContaining(
        ['rc-succeeded', 'rc-failed', 'rc-running', 'rc-missing'].map((id) => `${EXECUTIONS}:${id}`),
      ),
    );
    expect(report).toMatchObject({ reconciled: 2, missing: 1, stoppedEarly: false, errors: [] });
  });

  it('stops at a throttled call and leaves that row for the next run', async () => {
    // Prepare
    await createRun('rc-throttled');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    sfn
      .on(DescribeExecutionCommand, { executionArn: `${EXECUTIONS}:rc-throttled` })
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    // Act
    const report = await reconcileLater(RECONCILE_DEFAULTS.graceMs / 60_000 + 5);

    // Assess
    expect(report.stoppedEarly).toBe(true);
    expect(described().at(-1)).toBe(`${EXECUTIONS}:rc-throttled`);
    expect((await runtime.store.getExecution('rc-throttled'))?.status).toBe('running');
  });

  it('reconciles what it can, then fails the invocation for a row it could not describe', async () => {
    // Prepare
    await createRun('rc-denied');
    await createRun('rc-aborted');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    sfn
      .on(DescribeExecutionCommand, { executionArn: `${EXECUTIONS}:rc-denied` })
      .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }))
      .on(DescribeExecutionCommand, { executionArn: `${EXECUTIONS}:rc-aborted` })
      .resolves({ status: 'ABORTED' });

    // Act + Assess
    await expect(reconcileLater(RECONCILE_DEFAULTS.graceMs / 60_000 + 5)).rejects.toThrow(
      ReconcileFailedError,
    );
    expect((await runtime.store.getExecution('rc-aborted'))?.status).toBe('cancelled');
    expect((await runtime.store.getExecution('rc-denied'))?.status).toBe('running');
  });
});
