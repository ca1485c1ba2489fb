import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_CONTEXT_PARAMETERS } from '#shared/step-context';
import { ACTIVITIES, knownVariables, substituteVariables } from '../../infra/activities.ts';
import {
  type AslDefinition,
  analyzeIntegrations,
  listWorkflowFiles,
  placeholderBindings,
  validateWorkflow,
  type WorkflowFile,
} from '../../infra/constructs/asl.ts';
import { SandboxTask } from '../../infra/constructs/sandbox-task.ts';
import { WorkflowStateMachine } from '../../infra/constructs/workflow-state-machine.ts';
import {
  acknowledgements,
  actionsOf,
  type CfnTemplate,
  logicalId,
  nagFindings,
  rawNagFindings,
  resourcesOf,
  statementsOfRole,
  testApp,
} from './helpers.ts';

const aslValidator = createRequire(import.meta.url)('asl-validator') as (d: unknown) => {
  isValid: boolean;
  errorsText: (sep?: string) => string;
};

const lambdaTask = (fn: string, next?: string) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: fn, Payload: { context: TASK_CONTEXT_PARAMETERS } },
  ...(next ? { Next: next } : { End: true }),
});

function workflow(name: string, definition: unknown): WorkflowFile {
  return { name, path: `/virtual/${name}.asl.json`, text: JSON.stringify(definition, null, 2) };
}

/** Runs a sandboxed task, waits for it, then collects: the shape the sandbox workflows use. */
const SANDBOX_FLOW = workflow('code-exec', {
  Comment: 'test: runs code in the sandbox',
  StartAt: 'Run',
  States: {
    Run: {
      Type: 'Task',
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      Parameters: {
        LaunchType: 'FARGATE',
        Cluster: '${SandboxCluster}',
        TaskDefinition: '${SandboxTaskDefinition}',
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            'Subnets.$': "States.StringSplit('${SandboxSubnets}', ',')",
            SecurityGroups: ['${SandboxSecurityGroup}'],
            AssignPublicIp: 'DISABLED',
          },
        },
      },
      Next: 'Collect',
    },
    Collect: {
      Type: 'Parallel',
      Branches: [{ StartAt: 'Finish', States: { Finish: lambdaTask('${ExecutionFinishFunction}') } }],
      End: true,
    },
  },
});

describe('ASL files in statemachines/', () => {
  const files = listWorkflowFiles();

  it.each(files.map((f) => [f.name, f] as const))(
    '%s passes asl-validator once its variables are substituted',
    (_, file) => {
      const text = substituteVariables(file.text, placeholderBindings(), file.name);
      const result = aslValidator(JSON.parse(text));
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
      // and only uses variables of the contract, with integrations the CDK app can grant
      expect(() => validateWorkflow(file)).not.toThrow();
      expect(() => analyzeIntegrations(file.name, JSON.parse(file.text) as AslDefinition)).not.toThrow();
    },
  );

  it('binds a placeholder for every variable of the contract', () => {
    expect(Object.keys(placeholderBindings()).sort()).toEqual(knownVariables().sort());
  });
});

describe('Function: validateWorkflow', () => {
  it('fails naming a ${Variable} that has no binding', () => {
    const file = workflow('typo', { StartAt: 'A', States: { A: lambdaTask('${LlmInvokeFuncton}') } });
    expect(() => validateWorkflow(file)).toThrow(
      /statemachines\/typo\.asl\.json: unknown substitution variable\(s\) \$\{LlmInvokeFuncton\}/,
    );
  });

  it('fails on a definition asl-validator rejects', () => {
    const file = workflow('broken', { States: { A: { Type: 'Pass', End: true } } });
    expect(() => validateWorkflow(file)).toThrow(/broken\.asl\.json: invalid ASL: .*StartAt/);
  });
});

describe('Function: analyzeIntegrations', () => {
  const analyze = (definition: unknown) => analyzeIntegrations('t.asl.json', definition as AslDefinition);

  it('finds the functions a workflow invokes, inside Parallel branches and Map processors too', () => {
    const result = analyze({
      StartAt: 'P',
      States: {
        P: {
          Type: 'Parallel',
          Branches: [{ StartAt: 'A', States: { A: lambdaTask('${LlmInvokeFunction}') } }],
          Next: 'M',
        },
        M: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'B',
            States: { B: { Type: 'Task', Resource: '${ExecutionFinishFunction}', End: true } },
          },
          End: true,
        },
      },
    });
    expect(result).toEqual({
      lambdaVariables: ['ExecutionFinishFunction', 'LlmInvokeFunction'],
      ecsRunTask: undefined,
    });
  });

  it.each([
    [
      'a dynamic function name',
      {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { 'FunctionName.$': '$.fn' },
        End: true,
      },
      /state 'X': FunctionName\.\$ \(a dynamic function\) cannot be granted precisely/,
    ],
    [
      'a hard-coded function ARN',
      lambdaTask('arn:aws:lambda:us-east-1:123456789012:function:other'),
      /state 'X': FunctionName must be a \$\{Variable\}/,
    ],
    [
      'an ECS task outside the sandbox',
      {
        Type: 'Task',
        Resource: 'arn:aws:states:::ecs:runTask.sync',
        Parameters: {
          Cluster: '${SandboxCluster}',
          TaskDefinition: 'arn:aws:ecs:us-east-1:123456789012:task-definition/x:1',
        },
        End: true,
      },
      /state 'X': TaskDefinition must be a \$\{Variable\}/,
    ],
    [
      'an integration without a grant rule',
      { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Parameters: { TopicArn: 'x' }, End: true },
      /state 'X': integration 'arn:aws:states:::sns:publish' has no grant rule/,
    ],
  ])('rejects %s', (_, state, message) => {
    expect(() => analyze({ StartAt: 'X', States: { X: state } })).toThrow(message);
  });
});

describe('Construct: WorkflowStateMachine', () => {
  let stack: Stack;
  let sandbox: SandboxTask;
  let functions: Record<string, lambda.IFunction>;
  let t: CfnTemplate;
  let cleanup: () => void;

  beforeAll(() => {
    const { app, outdir } = testApp();
    cleanup = () => rmSync(outdir, { recursive: true, force: true });
    stack = new Stack(app, 'WorkflowTest');
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'sandbox', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    sandbox = new SandboxTask(stack, 'Sandbox', {
      prefix: 'wflo-t',
      vpc,
      subnets: { subnetGroupName: 'sandbox' },
      securityGroup: new ec2.SecurityGroup(stack, 'Sg', { vpc, allowAllOutbound: false }),
      cpu: 256,
      memoryMiB: 512,
      logRetention: logs.RetentionDays.ONE_WEEK,
      imageDirectory: 'tests/infra/fixtures/sandbox-image',
    });
    functions = Object.fromEntries(
      ACTIVITIES.map((a) => [
        a.variable,
        lambda.Function.fromFunctionArn(
          stack,
          a.variable,
          `arn:aws:lambda:us-east-1:123456789012:function:wflo-t-${a.id}`,
        ),
      ]),
    );
    new WorkflowStateMachine(stack, 'CodeExec', {
      workflow: SANDBOX_FLOW,
      prefix: 'wflo-t',
      functions,
      sandbox,
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    t = Template.fromStack(stack).toJSON() as CfnTemplate;
  }, 120_000);
  afterAll(() => cleanup?.());

  it('lets an ecs:runTask.sync workflow run only the sandbox task definition, in the sandbox cluster', () => {
    const sm = stack.node.findChild('CodeExec') as WorkflowStateMachine;
    const statements = statementsOfRole(t, logicalId(sm.stateMachine.role));
    const runTask = statements.filter((s) => actionsOf(s).includes('ecs:RunTask'));
    expect(runTask).toHaveLength(1);
    expect(runTask[0]!.Resource).toEqual({ Ref: logicalId(sandbox.taskDefinition) });
    expect(runTask[0]!.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [logicalId(sandbox.cluster), 'Arn'] } },
    });
  });

  it('passes only the sandbox task and execution roles, and only to ECS tasks', () => {
    const sm = stack.node.findChild('CodeExec') as WorkflowStateMachine;
    const passRole = statementsOfRole(t, logicalId(sm.stateMachine.role)).filter((s) =>
      actionsOf(s).includes('iam:PassRole'),
    );
    expect(passRole).toHaveLength(1);
    expect(resourcesOf(passRole[0]!)).toHaveLength(2);
    expect(resourcesOf(passRole[0]!)).toEqual(
      expect.arrayContaining([
        { 'Fn::GetAtt': [logicalId(sandbox.taskRole), 'Arn'] },
        { 'Fn::GetAtt': [logicalId(sandbox.executionRole), 'Arn'] },
      ]),
    );
    expect(passRole[0]!.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
  });

  it('can wait for the task (.sync): stop/describe tasks of the sandbox cluster and the ECS events rule', () => {
    const sm = stack.node.findChild('CodeExec') as WorkflowStateMachine;
    const statements = statementsOfRole(t, logicalId(sm.stateMachine.role));
    const byAction = (a: string) =>
      JSON.stringify(statements.filter((s) => actionsOf(s).includes(a)).map((s) => s.Resource));
    expect(byAction('ecs:DescribeTasks')).toContain(':task/');
    expect(byAction('ecs:DescribeTasks')).toContain(logicalId(sandbox.cluster));
    expect(byAction('events:PutRule')).toContain(':rule/StepFunctionsGetEventsForECSTaskRule');
    expect(byAction('lambda:InvokeFunction')).toContain('function:wflo-t-execution-finish');
    expect(byAction('lambda:InvokeFunction')).not.toContain('wflo-t-llm-invoke');
  });

  it('substitutes the sandbox variables the workflow uses', () => {
    const sm = stack.node.findChild('CodeExec') as WorkflowStateMachine;
    const props = t.Resources[logicalId(sm.stateMachine)]!.Properties as {
      DefinitionSubstitutions: Record<string, unknown>;
    };
    expect(Object.keys(props.DefinitionSubstitutions).sort()).toEqual([
      'ExecutionFinishFunction',
      'SandboxCluster',
      'SandboxSecurityGroup',
      'SandboxSubnets',
      'SandboxTaskDefinition',
    ]);
  });

  it('has no unacknowledged cdk-nag finding, and each acknowledgement covers a real one', () => {
    const sm = stack.node.findChild('CodeExec');
    expect(nagFindings(sm).map((v) => v.ruleName)).toEqual([]);
    const raw = rawNagFindings(sm).map((v) => v.ruleName);
    for (const ack of acknowledgements(sm).filter((a) => a.id.startsWith('AwsSolutions-'))) {
      expect(raw).toContain(ack.id);
    }
    expect(raw).toEqual(
      expect.arrayContaining([expect.stringMatching(/^AwsSolutions-IAM5\[Resource::.*:task\/<.*>\/\*\]$/)]),
    );
  });

  it('fails synth naming an unbound variable, and an ECS workflow without a sandbox', () => {
    expect(
      () =>
        new WorkflowStateMachine(stack, 'Typo', {
          workflow: workflow('typo', { StartAt: 'A', States: { A: lambdaTask('${NoSuchFunction}') } }),
          prefix: 'wflo-t',
          functions,
          sandbox,
          logRetention: logs.RetentionDays.ONE_WEEK,
        }),
    ).toThrow(/unknown substitution variable\(s\) \$\{NoSuchFunction\}/);
    expect(
      () =>
        new WorkflowStateMachine(stack, 'NoSandbox', {
          workflow: SANDBOX_FLOW,
          prefix: 'wflo-t',
          functions,
          logRetention: logs.RetentionDays.ONE_WEEK,
        }),
    ).toThrow(/unknown substitution variable\(s\) \$\{SandboxCluster\}, \$\{SandboxSecurityGroup\}/);
  });
});
