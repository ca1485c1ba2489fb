import { describe, expect, it } from 'vitest';
import { parseContext } from '../../infra/stacks/context.ts';
import { cdkJsonContext } from './helpers.ts';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo/openai-AbC123';

describe('Function: parseContext', () => {
  it('accepts cdk.json as shipped and fills every default', () => {
    const ctx = parseContext(cdkJsonContext());
    expect(ctx).toMatchObject({
      envName: 'dev',
      defaultBudgetUsd: '5',
      llmProvider: 'scripted',
      dbMinCapacity: 0.5,
      dbMaxCapacity: 4,
      dev: true,
      // A first deploy must be able to fail and be retried: no deletion or termination protection yet
      deletionProtection: false,
      terminationProtection: false,
      retainData: false,
      natGateways: 1,
      sandboxCpu: 512,
      sandboxMemoryMiB: 1024,
      kafka: false,
      stateMachineLogLevel: 'ALL',
      stateMachineExecutionData: true,
      workflowTimeouts: {},
      apiGatewayAccount: false,
      apiAuth: 'iam',
      logRetentionDays: 30,
    });
    expect(ctx.alarmEmail).toBeUndefined();
    expect(ctx.workflowTimeoutSeconds).toBeUndefined();
  });

  it('reads -c strings as numbers and booleans', () => {
    const ctx = parseContext({
      dbMinCapacity: '0',
      dbMaxCapacity: '16',
      deletionProtection: 'false',
      kafka: 'FALSE',
      natGateways: '2',
      sandboxCpu: '1024',
      sandboxMemoryMiB: '4096',
    });
    expect(ctx).toMatchObject({
      dbMinCapacity: 0,
      dbMaxCapacity: 16,
      deletionProtection: false,
      kafka: false,
      natGateways: 2,
      sandboxCpu: 1024,
      sandboxMemoryMiB: 4096,
    });
  });

  it('names the key, the problem, the value given and how to pass it', () => {
    expect(() => parseContext({ envName: 'Prod!' })).toThrow(
      /Invalid wflo context parameters \(pass them with -c key=value\):\n {2}- envName: must be 2-15 characters.*\(got "Prod!"\)/,
    );
  });

  it.each([
    [{ alarmEmail: 'ops-at-example' }, /alarmEmail: must be an email address/],
    [{ defaultBudgetUsd: '1.1234567' }, /defaultBudgetUsd: must be a decimal amount in USD/],
    [{ dbMinCapacity: '0.3' }, /dbMinCapacity: must be a multiple of 0.5 ACU/],
    [{ dbMinCapacity: 'many' }, /dbMinCapacity: must be a number of ACUs/],
    [{ dbMinCapacity: 8, dbMaxCapacity: 4 }, /dbMaxCapacity: must be at least dbMinCapacity/],
    [{ deletionProtection: 'yes' }, /deletionProtection: must be true or false/],
    [{ natGateways: 3 }, /natGateways: .*2/],
    [{ sandboxCpu: 300 }, /sandboxCpu: must be one of 256, 512, 1024, 2048, 4096/],
    [
      { sandboxCpu: 256, sandboxMemoryMiB: 4096 },
      /sandboxMemoryMiB: must be one of 512\.\.2048 .* with sandboxCpu=256/,
    ],
    [{ llmProvider: 'gpt' }, /llmProvider: must be one of scripted, openai-compatible, anthropic, bedrock/],
    [
      { llmProvider: 'anthropic', llmModel: 'claude-sonnet-4-5' },
      /llmSecretArn: required when llmProvider=anthropic/,
    ],
    [{ llmProvider: 'bedrock' }, /llmModel: required when llmProvider=bedrock/],
    [
      { llmProvider: 'bedrock', llmModel: 'm', llmBaseUrl: 'https://x.example' },
      /llmBaseUrl: only applies to/,
    ],
    [
      { llmProvider: 'openai-compatible', llmSecretArn: SECRET },
      /llmModel: required when llmProvider=openai-compatible/,
    ],
    [
      { llmProvider: 'openai-compatible', llmModel: 'gpt-4o-mini' },
      /llmSecretArn: required when llmProvider=openai-compatible/,
    ],
    [
      { llmSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo/openai' },
      /llmSecretArn: must be the complete ARN/,
    ],
    [{ llmBaseUrl: 'localhost:11434' }, /llmBaseUrl: must be an http\(s\) URL/],
    [{ apiAuth: 'cognito' }, /cognitoUserPoolArn: required when apiAuth=cognito/],
    [{ apiAuth: 'apikey' }, /apiAuth: must be iam or cognito/],
    [{ logRetentionDays: 10 }, /logRetentionDays: must be one of 1, 3, 5, 7, 14, 30/],
    [{ costAlarmUsdPerHour: -1 }, /costAlarmUsdPerHour: /],
    [{ alarmTopicArn: 'ops-topic' }, /alarmTopicArn: must be an SNS topic ARN/],
    [{ stateMachineLogLevel: 'DEBUG' }, /stateMachineLogLevel: must be one of ALL, ERROR, FATAL, OFF/],
    [{ terminationProtection: 'on' }, /terminationProtection: must be true or false/],
    [{ workflowTimeoutSeconds: 0 }, /workflowTimeoutSeconds: must be at least 1 second/],
    [
      { workflowTimeoutSeconds: 31_536_001 },
      /workflowTimeoutSeconds: must be at most 31536000 seconds \(one year, the Step Functions Standard limit\)/,
    ],
    [{ workflowTimeoutSeconds: '1.5' }, /workflowTimeoutSeconds: must be a whole number of seconds/],
    [{ workflowTimeouts: '{"hello":' }, /workflowTimeouts: must be a JSON object of workflow name → seconds/],
    [{ workflowTimeouts: '{"hello":0}' }, /workflowTimeouts\.hello: must be at least 1 second/],
  ])('rejects %j', (raw, message) => {
    expect(() => parseContext(raw)).toThrow(message);
  });

  it('reports every bad key at once', () => {
    expect(() => parseContext({ envName: '1', natGateways: 9, apiAuth: 'cognito' })).toThrow(
      /envName:[\s\S]*natGateways:[\s\S]*cognitoUserPoolArn:/,
    );
  });

  it('accepts a complete real-provider configuration', () => {
    const ctx = parseContext({
      envName: 'prod',
      alarmEmail: 'ops@example.com',
      llmProvider: 'openai-compatible',
      llmModel: 'gpt-4o-mini',
      llmSecretArn: SECRET,
      llmBaseUrl: 'https://api.openai.com/v1',
      apiAuth: 'cognito',
      cognitoUserPoolArn: 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123',
    });
    expect(ctx).toMatchObject({ envName: 'prod', llmProvider: 'openai-compatible', apiAuth: 'cognito' });
  });

  it('GIVEN a non-dev environment WHEN no alarm recipient is given THEN it fails saying how to give one', () => {
    expect(() => parseContext({ envName: 'prod' })).toThrow(
      /alarmEmail: required outside dev environments \(envName=prod\): pass -c alarmEmail=<ops address> or -c alarmTopicArn=<SNS topic ARN>, or mark a development environment with -c dev=true/,
    );
    expect(() => parseContext({ envName: 'staging', dev: 'false' })).toThrow(
      /alarmEmail: required outside dev/,
    );
  });

  it.each([
    [{ envName: 'prod', alarmEmail: 'ops@example.com' }, false],
    [{ envName: 'prod', alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:wflo-ops' }, false],
    [{ envName: 'sandbox', dev: 'true' }, true],
    [{ envName: 'dev-alice' }, true],
    [{ envName: 'dev' }, true],
  ])('GIVEN %j WHEN parsed THEN it is accepted, dev=%s', (raw, dev) => {
    expect(parseContext(raw).dev).toBe(dev);
  });

  it('GIVEN dev or not WHEN nothing else is said THEN the log level and data retention follow', () => {
    expect(parseContext({ envName: 'dev' })).toMatchObject({
      stateMachineLogLevel: 'ALL',
      retainData: false,
    });
    expect(parseContext({ envName: 'prod', alarmEmail: 'ops@example.com' })).toMatchObject({
      stateMachineLogLevel: 'ERROR',
      retainData: true,
      deletionProtection: false,
      terminationProtection: false,
      kafka: false,
    });
    expect(
      parseContext({
        envName: 'prod',
        alarmEmail: 'ops@example.com',
        stateMachineLogLevel: 'FATAL',
        retainData: 'false',
        deletionProtection: 'true',
        terminationProtection: 'true',
        kafka: 'true',
      }),
    ).toMatchObject({
      stateMachineLogLevel: 'FATAL',
      retainData: false,
      deletionProtection: true,
      terminationProtection: true,
      kafka: true,
    });
  });

  it('GIVEN workflow timeouts from -c WHEN parsed THEN the JSON text becomes numbers', () => {
    const ctx = parseContext({ workflowTimeoutSeconds: '900', workflowTimeouts: '{"agent-loop":7200}' });
    expect(ctx).toMatchObject({ workflowTimeoutSeconds: 900, workflowTimeouts: { 'agent-loop': 7200 } });
  });
});
