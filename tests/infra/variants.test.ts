import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { activity } from '../../infra/activities.ts';
import { deployedEnvironment } from './deployed-env.ts';
import {
  actionsOf,
  logicalId,
  nagFindings,
  resourcesOf,
  resourcesOfType,
  type SynthesizedWflo,
  statementsOfRole,
  synthWflo,
} from './helpers.ts';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo/openai-AbC123';
const POOL = 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123';

/**
 * A production-like variant, second step: real provider with its key in Secrets Manager, Cognito, MSK turned on,
 * 2 NATs, deletion and termination protection on, data not retained, every event logged, the shared API Gateway
 * account stack, and a per-workflow timeout.
 */
let w: SynthesizedWflo;
beforeAll(() => {
  w = synthWflo({
    envName: 'prod',
    alarmEmail: 'ops@example.com',
    llmProvider: 'openai-compatible',
    llmModel: 'gpt-4o-mini',
    llmBaseUrl: 'https://api.openai.com/v1',
    llmSecretArn: SECRET,
    apiAuth: 'cognito',
    cognitoUserPoolArn: POOL,
    kafka: 'true',
    natGateways: '2',
    deletionProtection: 'true',
    terminationProtection: 'true',
    retainData: 'false',
    stateMachineLogLevel: 'ALL',
    apiGatewayAccount: 'true',
    workflowTimeouts: '{"hello":120}',
    dbMinCapacity: '0',
    dbMaxCapacity: '8',
  });
}, 180_000);
afterAll(() => w?.cleanup());

describe('App variant: openai-compatible, Cognito, Kafka, protected', () => {
  it('authorizes every method with the Cognito user pool', () => {
    w.templates.api.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    w.templates.api.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'COGNITO_USER_POOLS',
      ProviderARNs: [POOL],
    });
    for (const [, m] of resourcesOfType(w.json.api, 'AWS::ApiGateway::Method')) {
      expect(m.Properties).toMatchObject({
        AuthorizationType: 'COGNITO_USER_POOLS',
        AuthorizerId: expect.anything(),
      });
    }
  });

  it('lets only the activities that call the model read the API key secret, by its exact ARN', () => {
    for (const [id, fn] of w.stacks.orchestration.activities) {
      const statements = statementsOfRole(w.json.orchestration, logicalId(fn.role));
      const secretReads = statements.filter((s) => JSON.stringify(s.Resource).includes(SECRET));
      const vars = (
        w.json.orchestration.Resources[logicalId(fn.function)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
      if (activity(id).needs.includes('llm')) {
        expect(secretReads).toHaveLength(1);
        // (merged with the database secret's identical statement by @aws-cdk/aws-iam:minimizePolicies)
        expect(resourcesOf(secretReads[0]!)).toContain(SECRET);
        expect(actionsOf(secretReads[0]!).sort()).toEqual([
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
        ]);
        expect(vars.LLM_SECRET_ARN).toBe(SECRET);
      } else {
        expect(secretReads).toEqual([]);
        expect(vars.LLM_SECRET_ARN).toBeUndefined();
      }
      // loadConfig() accepts what the constructs set
      const config = loadConfig(deployedEnvironment(vars));
      expect(config.llm).toMatchObject({
        defaultProvider: 'openai-compatible',
        defaultModel: 'gpt-4o-mini',
        openai: { baseUrl: 'https://api.openai.com/v1' },
      });
      expect(config.store.kind).toBe('data-api');
    }
  });

  it('GIVEN kafka=true WHEN synthesized THEN MSK exists and only the Lambdas reach it on 9098', () => {
    w.templates.data.resourceCountIs('AWS::MSK::ServerlessCluster', 1);
    w.templates.data.hasResourceProperties('AWS::MSK::ServerlessCluster', {
      ClientAuthentication: { Sasl: { Iam: { Enabled: true } } },
    });
    expect(w.stacks.data.kafka).toBeDefined();
    const lambdaSg = logicalId(w.stacks.network.lambdaSecurityGroup);
    w.templates.data.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 9098,
      ToPort: 9098,
      SourceSecurityGroupId: Match.objectLike({}),
    });
    const egress = (
      w.json.network.Resources[lambdaSg]!.Properties as { SecurityGroupEgress: { FromPort: number }[] }
    ).SecurityGroupEgress;
    expect(egress.map((e) => e.FromPort).sort()).toEqual([443, 6379, 9098]);
  });

  it('GIVEN the second step for production WHEN synthesized THEN deletion and termination protection are on', () => {
    w.templates.data.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: true });
    for (const key of ['network', 'data', 'orchestration', 'api', 'monitoring'] as const) {
      expect([key, w.stacks[key].terminationProtection]).toEqual([key, true]);
    }
  });

  it('GIVEN retainData=false WHEN synthesized THEN data stores and logs are deleted with the stack', () => {
    w.templates.data.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Delete' });
    for (const key of ['data', 'orchestration'] as const) {
      for (const [id, r] of resourcesOfType(w.json[key], 'AWS::Logs::LogGroup')) {
        expect([key, id, r.DeletionPolicy]).toEqual([key, id, 'Delete']);
      }
    }
  });

  it('GIVEN apiGatewayAccount=true WHEN synthesized THEN one shared stack owns the account role and the API waits for it', () => {
    const account = w.stacks.apiGatewayAccount!;
    expect(account.stackName).toBe('Wflo-ApiGatewayAccount');
    const t = Template.fromStack(account);
    t.resourceCountIs('AWS::ApiGateway::Account', 1);
    t.hasResourceProperties('AWS::ApiGateway::Account', {
      CloudWatchRoleArn: { 'Fn::GetAtt': [logicalId(account.role), 'Arn'] },
    });
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'apigateway.amazonaws.com' } })],
      }),
    });
    expect(w.stacks.api.dependencies).toContain(account);
    w.templates.api.resourceCountIs('AWS::ApiGateway::Account', 0);
  });

  it('GIVEN stateMachineLogLevel=ALL and a hello timeout WHEN synthesized THEN the state machines use them', () => {
    w.templates.orchestration.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'wflo-prod-hello',
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
    });
    expect(w.stacks.orchestration.workflows.get('hello')!.timeoutSeconds).toBe(120);
    expect(w.stacks.orchestration.workflows.get('agent-loop')!.timeoutSeconds).toBe(21_600);
  });

  it('applies the sizes', () => {
    w.templates.network.resourceCountIs('AWS::EC2::NatGateway', 2);
    w.templates.data.hasResourceProperties('AWS::RDS::DBCluster', {
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 8 },
    });
    w.templates.monitoring.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('Aurora'),
      Threshold: 7.2,
    });
  });

  it('has no unacknowledged cdk-nag finding either (the account stack included)', () => {
    expect(nagFindings(w.app).map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
  });
});
