import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITIES } from '../../infra/activities.ts';
import type { AslDefinition } from '../../infra/workflows/asl.ts';
import { findVariables, listWorkflowFiles } from '../../infra/workflows/files.ts';
import { withTransitionBounds } from '../../infra/workflows/transition-bounds.ts';
import { BASE_ACTIVITY_ACTIONS, NEED_ACTIONS, sharedWflo } from './app-fixture.ts';
import {
  actionsOf,
  logicalId,
  resourcesOf,
  resourcesOfType,
  type SynthesizedWflo,
  statementsOfRole,
} from './helpers.ts';

/*
 * Stack: Orchestration (infra/stacks/orchestration-stack.ts): the deployed state machines, the status
 * projector and the reconciler. The WorkflowStateMachine construct alone: workflow-state-machine.test.ts.
 */

let w: SynthesizedWflo;
const workflows = listWorkflowFiles();

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('Construct: WorkflowStateMachine', () => {
  it('deploys one Standard state machine per statemachines/*.asl.json', () => {
    expect(workflows.length).toBeGreaterThan(0);
    w.templates.orchestration.resourceCountIs('AWS::StepFunctions::StateMachine', workflows.length);
    for (const wf of workflows) {
      w.templates.orchestration.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `wflo-test-${wf.name}`,
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        // envName=test is not a dev environment: ERROR by default, execution data encrypted with the stack's key
        LoggingConfiguration: Match.objectLike({ Level: 'ERROR', IncludeExecutionData: true }),
        EncryptionConfiguration: {
          Type: 'CUSTOMER_MANAGED_KMS_KEY',
          KmsKeyId: { 'Fn::GetAtt': [logicalId(w.stacks.orchestration.key), 'Arn'] },
          KmsDataKeyReusePeriodSeconds: 300,
        },
      });
      w.templates.orchestration.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: {
          'Fn::Join': [
            '',
            [
              `/aws/vendedlogs/states/wflo-test-${wf.name}-`,
              Match.objectLike({ 'Fn::Select': Match.anyValue() }),
            ],
          ],
        },
        KmsKeyId: { 'Fn::GetAtt': [logicalId(w.stacks.orchestration.key), 'Arn'] },
        RetentionInDays: 30,
      });
    }
  });

  it.each(workflows.map((wf) => [wf.name, wf] as const))(
    '%s: substitutes exactly its variables and may invoke exactly the functions it names',
    (name, wf) => {
      const sm = w.stacks.orchestration.workflows.get(name)!;
      const props = w.json.orchestration.Resources[logicalId(sm.stateMachine)]!.Properties as {
        DefinitionString: string;
        DefinitionSubstitutions: Record<string, unknown>;
        RoleArn: { 'Fn::GetAtt': [string, string] };
      };
      // The file as written, with each Lambda Task's transition bound in its Payload (for the budget).
      expect(JSON.parse(props.DefinitionString)).toEqual(
        withTransitionBounds(JSON.parse(wf.text) as AslDefinition),
      );
      const used = findVariables(wf.text);
      expect(Object.keys(props.DefinitionSubstitutions).sort()).toEqual(used);

      const statements = statementsOfRole(w.json.orchestration, props.RoleArn['Fn::GetAtt'][0]);
      const invoked = statements
        .filter((s) => actionsOf(s).includes('lambda:InvokeFunction'))
        .flatMap(resourcesOf)
        .map((r) => (r as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]);
      const expected = ACTIVITIES.filter((a) => used.includes(a.variable)).map((a) =>
        logicalId(w.stacks.orchestration.activities.get(a.id)!.function),
      );
      expect(invoked.sort()).toEqual(expected.sort());
      expect(
        statements.flatMap(actionsOf).filter((a) => a.startsWith('ecs:') || a === 'iam:PassRole'),
      ).toEqual(sm.integrations.ecsRunTask ? expect.arrayContaining(['ecs:RunTask', 'iam:PassRole']) : []);
    },
  );
});

function environmentKeys(fn: Parameters<typeof logicalId>[0]): string[] {
  const id = logicalId(fn);
  const props = w.json.orchestration.Resources[id]!.Properties as { Environment?: { Variables?: object } };
  return Object.keys(props.Environment?.Variables ?? {});
}

describe('Status projector and reconciler', () => {
  it('receives the terminal status changes of every wflo state machine through a queue with a dead-letter queue', () => {
    // GIVEN the orchestration stack's rules
    const o = w.stacks.orchestration;
    const rules = resourcesOfType(w.json.orchestration, 'AWS::Events::Rule').map(
      ([, r]) =>
        r.Properties as {
          EventPattern?: { source: string[]; detail: { status: string[]; stateMachineArn: unknown[] } };
          ScheduleExpression?: string;
          Targets: Record<string, unknown>[];
        },
    );
    const rule = rules.find((r) => r.EventPattern);

    // THEN the status-change rule sends to the queue, which hands failures to the DLQ after five deliveries
    // (the other two rules are the reconciler's and the approval sweeper's schedules)
    expect(rules).toHaveLength(3);
    expect(rule!.EventPattern!.source).toEqual(['aws.states']);
    expect(rule!.EventPattern!.detail.status.sort()).toEqual(['ABORTED', 'FAILED', 'SUCCEEDED', 'TIMED_OUT']);
    expect(rule!.EventPattern!.detail.stateMachineArn).toEqual(
      expect.arrayContaining([...o.workflows.values()].map((wf) => ({ Ref: logicalId(wf.stateMachine) }))),
    );
    expect(rule!.EventPattern!.detail.stateMachineArn).toHaveLength(workflows.length);
    expect(rule!.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(o.statusChanges), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(o.projectorDeadLetters), 'Arn'] } },
        RetryPolicy: expect.objectContaining({ MaximumRetryAttempts: 8 }),
      }),
    ]);
    w.templates.orchestration.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(o.projectorDeadLetters), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    w.templates.orchestration.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(o.projector.function) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(o.statusChanges), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('runs the reconciler every five minutes, without retries', () => {
    const o = w.stacks.orchestration;
    w.templates.orchestration.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(o.reconciler.function), 'Arn'] } })],
    });
    w.templates.orchestration.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(o.reconciler.function) },
      MaximumRetryAttempts: 0,
    });
  });

  it('GIVEN the approval sweeper WHEN synthesized THEN it runs every minute without retries, and may only query and settle approvals', () => {
    const o = w.stacks.orchestration;
    w.templates.orchestration.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(o.approvalSweeper.function), 'Arn'] } })],
    });
    w.templates.orchestration.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(o.approvalSweeper.function) },
      MaximumRetryAttempts: 0,
    });
    const statements = statementsOfRole(w.json.orchestration, logicalId(o.approvalSweeper.role));
    const kms = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'];
    expect(new Set(statements.flatMap(actionsOf))).toEqual(
      new Set([
        ...BASE_ACTIVITY_ACTIONS,
        ...NEED_ACTIONS.store,
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        ...kms,
      ]),
    );
    // Query only on the two status indexes (named), the update on the table; the data key only through DynamoDB
    const query = statements.find((s) => actionsOf(s).includes('dynamodb:Query'))!;
    expect(resourcesOf(query).map((r) => JSON.stringify(r))).toEqual([
      expect.stringContaining('/index/byStatusCreated'),
      expect.stringContaining('/index/byStatusExpiry'),
    ]);
    const key = statements.find((s) => actionsOf(s).includes('kms:Encrypt'))!;
    expect(JSON.stringify(key.Condition)).toContain('"kms:ViaService"');
    expect(JSON.stringify(key.Condition)).toContain('dynamodb.');
    expect(environmentKeys(o.approvalSweeper.function)).toContain('APPROVALS_TABLE');
  });

  it.each([
    ['projector', 'states:GetExecutionHistory'],
    ['reconciler', 'states:DescribeExecution'],
  ] as const)('lets the %s use the store and only %s on wflo executions', (which, stateAction) => {
    // GIVEN the role's statements
    const fn = which === 'projector' ? w.stacks.orchestration.projector : w.stacks.orchestration.reconciler;
    const statements = statementsOfRole(w.json.orchestration, logicalId(fn.role));
    const queueActions =
      which === 'projector'
        ? [
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:ReceiveMessage',
          ]
        : [];

    // THEN nothing else is allowed, and the Step Functions action is scoped to wflo executions
    expect(new Set(statements.flatMap(actionsOf))).toEqual(
      new Set([...BASE_ACTIVITY_ACTIONS, ...NEED_ACTIONS.store, ...queueActions, stateAction, 'kms:Decrypt']),
    );
    // Execution data is encrypted with the workflow key: decrypting is limited to it and to wflo state machines.
    expect(statements.filter((s) => actionsOf(s).includes('kms:Decrypt'))).toEqual([
      expect.objectContaining({
        Resource: { 'Fn::GetAtt': [logicalId(w.stacks.orchestration.key), 'Arn'] },
        Condition: {
          StringEquals: {
            'kms:EncryptionContext:aws:states:stateMachineArn': [
              ...w.stacks.orchestration.workflows.values(),
            ].map((wf) => ({ Ref: logicalId(wf.stateMachine) })),
          },
        },
      }),
    ]);
    const executions = statements
      .filter((s) => actionsOf(s).some((a) => a.startsWith('states:')))
      .flatMap((s) => {
        expect(actionsOf(s)).toEqual([stateAction]);
        return resourcesOf(s);
      })
      .map((r) => JSON.stringify(r));
    expect(executions).toHaveLength(workflows.length);
    for (const r of executions) expect(r).toMatch(/:execution:wflo-[a-z0-9-]+-[a-z0-9-]+:\*/);
  });
});
