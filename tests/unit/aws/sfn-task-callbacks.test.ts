import {
  InvalidOutput,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { sfnTaskCallbacks } from '#shared/adapters/sfn-task-callbacks';
import { deciderFromArn, mayDecide } from '#shared/approvals/decide';
import { TaskCallbackError } from '#shared/errors';
import type { ApprovalRow } from '#shared/ports/approvals';
import type { WorkflowEngine } from '#shared/ports/engine';
import type { Store } from '#shared/ports/store';
import { snsNotifier } from '#shared/wiring/approval-notifier';
import { createApp } from '../../../functions/api/app.ts';

const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
const TOKEN = 'AAAAKgAAAAIAAAAAAAAAAR0token';

describe('Adapter: sfnTaskCallbacks', () => {
  afterEach(() => {
    sfn.reset();
    sns.reset();
  });

  it('sends the decision as JSON output with SendTaskSuccess', async () => {
    // Prepare
    sfn.on(SendTaskSuccessCommand).resolves({});
    // Act
    await sfnTaskCallbacks(new SFNClient({})).sendTaskSuccess(TOKEN, { decision: 'approve' });
    // Assess
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input).toEqual({
      taskToken: TOKEN,
      output: '{"decision":"approve"}',
    });
  });

  it('fails the task with the error name and a cause capped at the service limit', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    await sfnTaskCallbacks(new SFNClient({})).sendTaskFailure(
      TOKEN,
      'ApprovalRejectedError',
      'x'.repeat(40_000),
    );
    const input = sfn.commandCalls(SendTaskFailureCommand)[0]!.args[0].input;
    expect(input.error).toBe('ApprovalRejectedError');
    expect(input.cause).toHaveLength(32_768);
  });

  it.each([
    ['TaskDoesNotExist', new TaskDoesNotExist({ message: 'gone', $metadata: {} })],
    ['TaskTimedOut', new TaskTimedOut({ message: 'late', $metadata: {} })],
    ['InvalidToken', new InvalidToken({ message: 'bad', $metadata: {} })],
  ] as const)('maps %s to TaskCallbackError with that reason', async (reason, error) => {
    sfn.on(SendTaskSuccessCommand).rejects(error);
    const sent = sfnTaskCallbacks(new SFNClient({})).sendTaskSuccess(TOKEN, {});
    await expect(sent).rejects.toBeInstanceOf(TaskCallbackError);
    await expect(sent).rejects.toMatchObject({ reason });
  });

  it('rethrows any other failure unchanged (throttling is not a refusal)', async () => {
    const throttled = Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
    sfn.on(SendTaskFailureCommand).rejects(throttled);
    await expect(sfnTaskCallbacks(new SFNClient({})).sendTaskFailure(TOKEN, 'E', 'c')).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});

describe('Adapter: sfnTaskCallbacks — heartbeat and output limits', () => {
  afterEach(() => {
    sfn.reset();
  });

  it('sends SendTaskHeartbeat with the token', async () => {
    // Prepare
    sfn.on(SendTaskHeartbeatCommand).resolves({});
    // Act
    await sfnTaskCallbacks(new SFNClient({})).sendTaskHeartbeat(TOKEN);
    // Assess
    expect(sfn.commandCalls(SendTaskHeartbeatCommand)[0]!.args[0].input).toEqual({ taskToken: TOKEN });
  });

  it('refuses output over 256 KiB as InvalidOutput without calling Step Functions', async () => {
    // Act
    const sent = sfnTaskCallbacks(new SFNClient({})).sendTaskSuccess(TOKEN, 'x'.repeat(256 * 1024));
    // Assess
    await expect(sent).rejects.toMatchObject({ reason: 'InvalidOutput' });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('maps a SendTaskHeartbeat refusal (TaskTimedOut) to TaskCallbackError', async () => {
    sfn.on(SendTaskHeartbeatCommand).rejects(new TaskTimedOut({ message: 'late', $metadata: {} }));
    const sent = sfnTaskCallbacks(new SFNClient({})).sendTaskHeartbeat(TOKEN);
    await expect(sent).rejects.toMatchObject({ reason: 'TaskTimedOut' });
  });

  it('maps a SendTaskSuccess InvalidOutput to TaskCallbackError', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new InvalidOutput({ message: 'bad', $metadata: {} }));
    const sent = sfnTaskCallbacks(new SFNClient({})).sendTaskSuccess(TOKEN, {});
    await expect(sent).rejects.toMatchObject({ reason: 'InvalidOutput' });
  });
});

describe('API over Step Functions: POST /task-tokens/…', () => {
  afterEach(() => {
    sfn.reset();
  });
  // The routes touch neither the store nor the engine port.
  const app = () =>
    createApp({
      store: {} as Store,
      engine: {} as WorkflowEngine,
      taskTokens: sfnTaskCallbacks(new SFNClient({})),
    });
  const post = (path: string, body: unknown) =>
    app().request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('calls SendTaskSuccess with the output as JSON for a token with + / = sent in the body', async () => {
    // Prepare
    sfn.on(SendTaskSuccessCommand).resolves({});
    const token = 'AQCEAAAAKgAAAAMAAAAA+/b/c==';
    // Act
    const res = await post('/task-tokens/success', { taskToken: token, output: { ok: 1 } });
    // Assess
    expect(res.status).toBe(200);
    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input).toEqual({
      taskToken: token,
      output: '{"ok":1}',
    });
  });

  it.each([
    [new TaskDoesNotExist({ message: 'gone', $metadata: {} }), 404, 'TaskDoesNotExist'],
    [new TaskTimedOut({ message: 'late', $metadata: {} }), 410, 'TaskTimedOut'],
    [new InvalidToken({ message: 'bad', $metadata: {} }), 400, 'InvalidToken'],
  ] as const)('answers Step Functions %s with its name', async (error, status, title) => {
    // Prepare
    sfn.on(SendTaskFailureCommand).rejects(error);
    // Act
    const res = await post('/task-tokens/failure', { taskToken: TOKEN, error: 'E', cause: 'C' });
    // Assess
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ title, status });
  });
});

describe('Function: snsNotifier', () => {
  afterEach(() => sns.reset());

  it('publishes what is asked and until when, never the task token', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const topic = 'arn:aws:sns:eu-west-1:123456789012:wflo-dev-approvals';
    const row = {
      id: 'apr-1',
      executionId: 'code-review-gate-x',
      stateName: 'AskReviewer',
      prompt: { title: 'Apply the patch?', summary: 'tests pass' },
      taskToken: TOKEN,
      expiresAt: new Date('2026-11-30T00:00:00Z'),
    } as unknown as ApprovalRow;
    await snsNotifier(new SNSClient({}), topic)(row);
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.TopicArn).toBe(topic);
    expect(JSON.parse(input.Message!)).toMatchObject({
      approvalId: 'apr-1',
      title: 'Apply the patch?',
      expiresAt: '2026-11-30T00:00:00.000Z',
    });
    expect(input.Message).not.toContain(TOKEN);
  });
});

describe('Function: deciderFromArn / mayDecide', () => {
  it('treats an assumed role as acting in that role, by name and by role ARN', () => {
    const d = deciderFromArn('arn:aws:sts::123456789012:assumed-role/Reviewer/alice');
    expect(d.roles).toEqual(['Reviewer', 'arn:aws:iam::123456789012:role/Reviewer']);
    expect(mayDecide({ principals: [], roles: ['Reviewer'] }, d)).toBe(true);
    expect(mayDecide({ principals: [], roles: ['Admin'] }, d)).toBe(false);
  });

  it('matches an IAM user only by its exact ARN', () => {
    const d = deciderFromArn('arn:aws:iam::123456789012:user/bob');
    expect(mayDecide({ principals: ['arn:aws:iam::123456789012:user/bob'], roles: [] }, d)).toBe(true);
    expect(mayDecide({ principals: ['arn:aws:iam::123456789012:user/bo'], roles: ['bob'] }, d)).toBe(false);
  });
});
