import {
  InvalidToken,
  SendTaskFailureCommand,
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
import { snsNotifier } from '#shared/wiring/approval-notifier';

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
