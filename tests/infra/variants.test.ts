import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { needsOf } from '../../infra/stacks/activity-permissions.ts';
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

/** A production-like variant: real provider with its key in Secrets Manager, Cognito, no MSK, 2 NATs, no protection. */
let w: SynthesizedWflo;
beforeAll(() => {
  w = synthWflo({
    envName: 'prod',
    llmProvider: 'openai-compatible',
    llmModel: 'gpt-4o-mini',
    llmBaseUrl: 'https://api.openai.com/v1',
    llmSecretArn: SECRET,
    apiAuth: 'cognito',
    cognitoUserPoolArn: POOL,
    kafka: 'false',
    natGateways: '2',
    deletionProtection: 'false',
    dbMinCapacity: '0',
    dbMaxCapacity: '8',
  });
}, 180_000);
afterAll(() => w?.cleanup());

describe('App variant: openai-compatible, Cognito, no Kafka', () => {
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
      if (needsOf(id).includes('llm')) {
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

  it('deploys no MSK cluster and no MSK alarm when kafka=false', () => {
    w.templates.data.resourceCountIs('AWS::MSK::ServerlessCluster', 0);
    expect(JSON.stringify(w.json.monitoring)).not.toContain('AWS/Kafka');
  });

  it('applies the sizes and protection settings', () => {
    w.templates.network.resourceCountIs('AWS::EC2::NatGateway', 2);
    w.templates.data.hasResourceProperties('AWS::RDS::DBCluster', {
      DeletionProtection: false,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 8 },
    });
    w.templates.data.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    w.templates.data.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
    w.templates.monitoring.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('Aurora'),
      Threshold: 7.2,
    });
  });

  it('has no unacknowledged cdk-nag finding either', () => {
    expect(nagFindings(w.app).map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
  });
});
