import {
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleUrlOf, sfnEngine } from '#shared/adapters/sfn-engine';
import { NotFoundError } from '#shared/errors';

const sfn = mockClient(SFNClient);
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:wflo-dev-agent-loop';

describe('Adapter: sfnEngine', () => {
  afterEach(() => sfn.reset());

  it('stops an execution by its ARN (state machine ARN + execution name), with a cause', async () => {
    // Prepare
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });

    // Act
    await sfnEngine(new SFNClient({}), { 'agent-loop': ARN }).stopExecution(
      'agent-loop',
      'exec-1',
      'by request',
    );

    // Assess
    expect(sfn.commandCalls(StopExecutionCommand)[0]!.args[0].input).toEqual({
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:wflo-dev-agent-loop:exec-1',
      error: 'wflo.Cancelled',
      cause: 'by request',
    });
  });

  it('treats an execution Step Functions does not know as already stopped, and an unknown workflow as 404', async () => {
    // Prepare
    sfn.on(StopExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'gone', $metadata: {} }));
    const engine = sfnEngine(new SFNClient({}), { 'agent-loop': ARN });

    // Act / Assess
    await expect(engine.stopExecution('agent-loop', 'exec-1', 'x')).resolves.toBeUndefined();
    await expect(engine.stopExecution('nope', 'exec-1', 'x')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('starts the named Standard state machine with the execution id as the execution name', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:exec-1`, startDate: new Date() });
    const engine = sfnEngine(new SFNClient({}), { 'agent-loop': ARN });

    // Act
    await engine.startExecution('agent-loop', 'exec-1', { goal: 'x' });

    // Assess
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).toEqual({
      stateMachineArn: ARN,
      name: 'exec-1',
      input: '{"goal":"x"}',
    });
  });

  it('lists the deployed workflows by name, with the input schemas shipped next to the bundle', async () => {
    const schema = { type: 'object', required: ['goal'] };
    const engine = sfnEngine(
      new SFNClient({}),
      { 'agent-loop': ARN, hello: `${ARN}-hello` },
      { hello: 'Hello' },
      { 'agent-loop': schema },
    );
    expect(await engine.listWorkflows()).toEqual([
      { name: 'agent-loop', description: '', inputSchema: schema },
      { name: 'hello', description: 'Hello', inputSchema: null },
    ]);
  });

  it('treats a retried start of the same execution as accepted', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    const engine = sfnEngine(new SFNClient({}), { 'agent-loop': ARN });
    await expect(engine.startExecution('agent-loop', 'exec-1', {})).resolves.toBeUndefined();
  });

  it('surfaces other Step Functions errors and refuses unknown workflows', async () => {
    sfn.on(StartExecutionCommand).rejects(new Error('ExecutionLimitExceeded'));
    const engine = sfnEngine(new SFNClient({}), { 'agent-loop': ARN });
    await expect(engine.startExecution('agent-loop', 'exec-1', {})).rejects.toThrow('ExecutionLimitExceeded');
    await expect(engine.startExecution('nope', 'exec-1', {})).rejects.toThrow(NotFoundError);
  });

  it('links each execution to its Step Functions console page, by partition and region', () => {
    // Prepare
    const engine = sfnEngine(new SFNClient({}), { 'agent-loop': ARN });

    // Act
    const url = engine.consoleUrl('agent-loop', 'agent-loop-none-0a1b2c3d4e5f');

    // Assess
    expect(url).toBe(
      'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/' +
        'arn:aws:states:eu-west-1:123456789012:execution:wflo-dev-agent-loop:agent-loop-none-0a1b2c3d4e5f',
    );
    expect(engine.consoleUrl('nope', 'x')).toBeNull();
    expect(consoleUrlOf('arn:aws-cn:states:cn-north-1:1:stateMachine:m', 'e')).toBe(
      'https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/arn:aws-cn:states:cn-north-1:1:execution:m:e',
    );
    expect(consoleUrlOf('arn:aws:lambda:eu-west-1:1:function:f', 'e')).toBeNull();
  });
});
