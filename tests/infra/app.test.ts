import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { listWorkflowFiles } from '../../infra/workflows/files.ts';
import { allStatements, sharedWflo } from './app-fixture.ts';
import { deployedEnvironment, FAKE_CLUSTER_ARN, FAKE_SECRET_ARN } from './deployed-env.ts';
import {
  actionsOf,
  logicalId,
  resourcesOf,
  resourcesOfType,
  STACK_KEYS,
  type SynthesizedWflo,
} from './helpers.ts';

/*
 * The app as a whole: its five stacks, IAM across all of them, deploys that can be retried, and the
 * environment the constructs hand the Lambda code.
 */

let w: SynthesizedWflo;
const workflows = listWorkflowFiles();

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('App: wflo', () => {
  it('synthesizes the five stacks of one environment', () => {
    expect(STACK_KEYS.map((k) => w.stacks[k].stackName)).toEqual([
      'Wflo-test-Network',
      'Wflo-test-Data',
      'Wflo-test-Orchestration',
      'Wflo-test-Api',
      'Wflo-test-Monitoring',
    ]);
  });

  it('grants iam:PassRole nowhere but on the sandbox roles', () => {
    const passRole = allStatements(w).filter((s) =>
      actionsOf(s.statement).some((a) => /^iam:(PassRole|\*)$|^\*$/.test(a)),
    );
    const sandbox = w.stacks.orchestration.sandbox;
    const allowed = new Set([logicalId(sandbox.taskRole), logicalId(sandbox.executionRole)]);
    for (const { statement } of passRole) {
      for (const r of resourcesOf(statement)) {
        expect(r).toMatchObject({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
        expect(allowed.has((r as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!)).toBe(true);
      }
    }
    // The shipped workflows run no ECS task, so nothing may pass a role at all (see workflow-state-machine.test.ts).
    const usesEcs = [...w.stacks.orchestration.workflows.values()].some((wf) => wf.integrations.ecsRunTask);
    if (!usesEcs) expect(passRole).toEqual([]);
  });

  it('uses no wildcard action anywhere', () => {
    const wild = allStatements(w).filter((s) =>
      actionsOf(s.statement).some((a) => a === '*' || /:\*$/.test(a)),
    );
    expect(wild.map((s) => `${s.stack}/${s.policy}: ${actionsOf(s.statement).join(',')}`)).toEqual([]);
  });
});

describe('Deploys that can fail and be retried', () => {
  /** Every resource of the environment's five stacks, with its stack. */
  const everything = () =>
    STACK_KEYS.flatMap((k) => Object.entries(w.json[k].Resources).map(([id, r]) => ({ stack: k, id, r })));

  it('GIVEN a non-dev environment WHEN synthesized THEN data stores and logs are RETAIN_ON_UPDATE_OR_DELETE, never plain RETAIN', () => {
    const retained = ['AWS::Logs::LogGroup', 'AWS::S3::Bucket', 'AWS::KMS::Key'];
    for (const { stack, id, r } of everything()) {
      // Plain Retain would keep resources through the rollback of a failed first create
      expect([stack, id, r.DeletionPolicy]).not.toEqual([stack, id, 'Retain']);
      if (
        retained.includes(r.Type) &&
        !id.startsWith('S3PrefixListLogs') &&
        !id.startsWith('KafkaBootstrapBrokersLogs')
      ) {
        expect([stack, id, r.DeletionPolicy, r.UpdateReplacePolicy]).toEqual([
          stack,
          id,
          'RetainExceptOnCreate',
          'Retain',
        ]);
      }
    }
    w.templates.data.hasResource('AWS::RDS::DBCluster', {
      DeletionPolicy: 'Snapshot',
      UpdateReplacePolicy: 'Snapshot',
    });
  });

  it('GIVEN the defaults WHEN synthesized THEN no deletion protection and no termination protection block a rollback', () => {
    w.templates.data.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: false });
    for (const key of STACK_KEYS) expect([key, w.stacks[key].terminationProtection]).toEqual([key, false]);
  });

  it('GIVEN the defaults WHEN synthesized THEN no physical name would block a retry after a rollback', () => {
    for (const { stack, id, r } of everything()) {
      const p = r.Properties ?? {};
      // SQS keeps a deleted queue's name for 60 s; a deleted secret keeps its name for its recovery window
      if (r.Type === 'AWS::SQS::Queue') expect([stack, id, p.QueueName]).toEqual([stack, id, undefined]);
      if (r.Type === 'AWS::SecretsManager::Secret')
        expect([stack, id, p.Name]).toEqual([stack, id, undefined]);
      // A named log group ends with the stack's id, so one retained by a destroyed environment does not collide
      if (r.Type === 'AWS::Logs::LogGroup' && p.LogGroupName !== undefined) {
        expect([stack, id, JSON.stringify(p.LogGroupName)]).toEqual([
          stack,
          id,
          expect.stringContaining('AWS::StackId'),
        ]);
      }
    }
    // The approvals table has no physical name either: a retained one must not block creating the env again
    for (const { stack, id, r } of everything().filter(({ r }) => r.Type === 'AWS::DynamoDB::Table')) {
      expect([stack, id, r.Properties?.TableName]).toEqual([stack, id, undefined]);
    }
  });

  it('GIVEN two environments in one account WHEN synthesized THEN neither owns the API Gateway CloudWatch role', () => {
    for (const key of STACK_KEYS) {
      expect([key, resourcesOfType(w.json[key], 'AWS::ApiGateway::Account')]).toEqual([key, []]);
    }
    expect(w.stacks.apiGatewayAccount).toBeUndefined();
    const apiRoles = resourcesOfType(w.json.api, 'AWS::IAM::Role').filter(([, r]) =>
      JSON.stringify(r.Properties?.AssumeRolePolicyDocument).includes('apigateway.amazonaws.com'),
    );
    expect(apiRoles).toEqual([]);
    // ... and the stage still writes access logs (through the account-level role, see ApiGatewayAccountStack)
    w.templates.api.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
    });
    const stage = resourcesOfType(w.json.api, 'AWS::ApiGateway::Stage')[0]![1];
    expect(JSON.stringify(stage.Properties?.AccessLogSetting)).toContain(logicalId(w.stacks.api.accessLogs));
  });
});

describe('Config: the environment the constructs set', () => {
  it('is accepted by loadConfig() and selects the Aurora Data API store', () => {
    const { orchestration, api } = w.stacks;
    for (const fn of [
      ...orchestration.activities.values(),
      orchestration.projector,
      orchestration.reconciler,
      api.handler,
    ]) {
      const stack = fn.function.stack === api ? w.json.api : w.json.orchestration;
      const vars = (
        stack.Resources[logicalId(fn.function)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
      const config = loadConfig(deployedEnvironment(vars));
      expect(config.store).toEqual({
        kind: 'data-api',
        resourceArn: FAKE_CLUSTER_ARN,
        secretArn: FAKE_SECRET_ARN,
        database: 'wflo',
      });
      expect(config.llm.defaultProvider).toBe('scripted');
      expect(config.defaultBudgetMicros).toBe(5_000_000);
      if (fn === w.stacks.api.handler || fn === orchestration.reconciler) {
        expect(Object.keys(config.stateMachines).sort()).toEqual(workflows.map((wf) => wf.name).sort());
      }
    }
  });
});
