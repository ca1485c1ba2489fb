import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_CONTEXT_PARAMETERS } from '#shared/step-context';
import { ACTIVITIES, knownVariables } from '../../infra/activities.ts';
import { SandboxTask } from '../../infra/constructs/sandbox-task.ts';
import {
  MAX_WORKFLOW_TIMEOUT_SECONDS,
  WorkflowStateMachine,
  type WorkflowStateMachineProps,
} from '../../infra/constructs/workflow-state-machine.ts';
import type { AslDefinition } from '../../infra/workflows/asl.ts';
import { placeholderBindings } from '../../infra/workflows/bindings.ts';
import { checkWorkflow } from '../../infra/workflows/check.ts';
import {
  listWorkflowFiles,
  readWorkflowFile,
  substituteVariables,
  type WorkflowFile,
} from '../../infra/workflows/files.ts';
import { analyzeIntegrations } from '../../infra/workflows/integrations.ts';
import { LAMBDA_SERVICE_RETRY } from '../../infra/workflows/lint.ts';
import { TRANSITIONS_FIELD, withTransitionBounds } from '../../infra/workflows/transition-bounds.ts';
import {
  acknowledgements,
  actionsOf,
  type CfnTemplate,
  logicalId,
  nagFindings,
  rawNagFindings,
  resourcesOf,
  resourcesOfType,
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
  Retry: [LAMBDA_SERVICE_RETRY],
  ...(next ? { Next: next } : { End: true }),
});

function workflow(name: string, definition: unknown): WorkflowFile {
  return { name, path: `statemachines/${name}.asl.json`, text: JSON.stringify(definition, null, 2) };
}

/** Runs a sandboxed task, waits for it, then collects: the shape the sandbox workflows use. */
const SANDBOX_FLOW = workflow('code-exec', {
  Comment: 'test: runs code in the sandbox',
  StartAt: 'Run',
  TimeoutSeconds: 900,
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
      expect(() => checkWorkflow(file)).not.toThrow();
      expect(() => analyzeIntegrations(file.name, JSON.parse(file.text) as AslDefinition)).not.toThrow();
    },
  );

  it.each(files.map((f) => [f.name, f] as const))(
    '%s declares its own top-level TimeoutSeconds (1 s to one year), so it deploys without a context default',
    (_, file) => {
      const timeout = (JSON.parse(file.text) as { TimeoutSeconds?: unknown }).TimeoutSeconds;
      expect(Number.isInteger(timeout)).toBe(true);
      expect(timeout).toBeGreaterThanOrEqual(1);
      expect(timeout).toBeLessThanOrEqual(MAX_WORKFLOW_TIMEOUT_SECONDS);
    },
  );

  it('binds a placeholder for every variable of the contract', () => {
    expect(Object.keys(placeholderBindings()).sort()).toEqual(knownVariables().sort());
  });
});

describe('Function: checkWorkflow', () => {
  it('fails naming a ${Variable} that has no binding', () => {
    const file = workflow('typo', { StartAt: 'A', States: { A: lambdaTask('${LlmInvokeFuncton}') } });
    expect(() => checkWorkflow(file)).toThrow(
      /statemachines\/typo\.asl\.json: unknown substitution variable\(s\) \$\{LlmInvokeFuncton\}/,
    );
  });

  it('fails on a definition asl-validator rejects', () => {
    const file = workflow('broken', { States: { A: { Type: 'Pass', End: true } } });
    expect(() => checkWorkflow(file)).toThrow(/broken\.asl\.json: invalid ASL: .*StartAt/);
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
  let key: kms.Key;
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
    key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    new WorkflowStateMachine(stack, 'CodeExec', {
      workflow: SANDBOX_FLOW,
      prefix: 'wflo-t',
      functions,
      sandbox,
      logRetention: logs.RetentionDays.ONE_WEEK,
      encryptionKey: key,
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
          encryptionKey: key,
        }),
    ).toThrow(/unknown substitution variable\(s\) \$\{NoSuchFunction\}/);
    expect(
      () =>
        new WorkflowStateMachine(stack, 'NoSandbox', {
          workflow: SANDBOX_FLOW,
          prefix: 'wflo-t',
          functions,
          logRetention: logs.RetentionDays.ONE_WEEK,
          encryptionKey: key,
        }),
    ).toThrow(/unknown substitution variable\(s\) \$\{SandboxCluster\}, \$\{SandboxSecurityGroup\}/);
  });
});

describe('Construct: WorkflowStateMachine settings', () => {
  const FINISH_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:wflo-s-execution-finish';
  const finishOnly = (extra: object = {}) =>
    workflow('finish', { StartAt: 'A', ...extra, States: { A: lambdaTask('${ExecutionFinishFunction}') } });
  let cleanup: () => void = () => {};
  afterAll(() => cleanup());

  /** One state machine in a stack of its own, with a key of that stack. */
  function build(props: Partial<WorkflowStateMachineProps> & Pick<WorkflowStateMachineProps, 'workflow'>) {
    const { app, outdir } = testApp();
    const previous = cleanup;
    cleanup = () => {
      previous();
      rmSync(outdir, { recursive: true, force: true });
    };
    const stack = new Stack(app, 'Settings');
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    const fn = lambda.Function.fromFunctionArn(stack, 'Finish', FINISH_ARN);
    const sm = new WorkflowStateMachine(stack, 'Wf', {
      prefix: 'wflo-s',
      functions: { ExecutionFinishFunction: fn },
      logRetention: logs.RetentionDays.ONE_WEEK,
      encryptionKey: key,
      ...props,
    });
    const template = Template.fromStack(stack);
    return { stack, key, sm, template, json: template.toJSON() as CfnTemplate };
  }
  const definitionOf = (json: CfnTemplate) =>
    JSON.parse(
      (
        resourcesOfType(json, 'AWS::StepFunctions::StateMachine')[0]![1].Properties as {
          DefinitionString: string;
        }
      ).DefinitionString,
    ) as { TimeoutSeconds?: number };

  it('GIVEN a file with TimeoutSeconds WHEN deployed THEN the definition is the file as written, with its transition bounds', () => {
    const file = finishOnly({ TimeoutSeconds: 600 });
    const { sm, template } = build({ workflow: file, defaultTimeoutSeconds: 60 });
    expect(sm.timeoutSeconds).toBe(600);
    const expected = withTransitionBounds(JSON.parse(file.text) as AslDefinition);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      DefinitionString: JSON.stringify(expected, null, 2),
    });
    expect(JSON.stringify(expected)).toContain(`"${TRANSITIONS_FIELD}":1`);
  });

  it('GIVEN a file without TimeoutSeconds WHEN a default applies THEN it is injected at the top level', () => {
    const { sm, json } = build({ workflow: finishOnly(), defaultTimeoutSeconds: 1800 });
    expect(sm.timeoutSeconds).toBe(1800);
    expect(definitionOf(json).TimeoutSeconds).toBe(1800);
  });

  it('GIVEN a per-workflow override WHEN the file has its own THEN the override wins', () => {
    const { sm, json } = build({ workflow: finishOnly({ TimeoutSeconds: 600 }), timeoutSeconds: 7200 });
    expect(sm.timeoutSeconds).toBe(7200);
    expect(definitionOf(json).TimeoutSeconds).toBe(7200);
  });

  it('GIVEN a workflow file named 2fa-check.asl.json WHEN synthesized THEN it deploys as wflo-s-2fa-check (the rule wflo dev uses)', () => {
    // GIVEN
    const path = join(mkdtempSync(join(tmpdir(), 'wflo-names-')), '2fa-check.asl.json');
    writeFileSync(path, finishOnly({ TimeoutSeconds: 60 }).text);
    const file = readWorkflowFile(path);
    // WHEN
    const { template } = build({ workflow: file });
    // THEN
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'wflo-s-2fa-check',
    });
  });

  it.each(['missing-retry', 'partial-retry', 'missing-context', 'whole-context'])(
    'GIVEN house-rules/%s.asl.json WHEN synthesized THEN it fails naming the file and the state',
    (fixture) => {
      // GIVEN
      const file = readWorkflowFile(`tests/fixtures/statemachines/house-rules/${fixture}.asl.json`);
      // WHEN / THEN
      expect(() => build({ workflow: file })).toThrow(
        new RegExp(
          `house-rules/${fixture}\\.asl\\.json: breaks the workflow house rules:\\n {2}state 'Call': `,
        ),
      );
    },
  );

  it('GIVEN a file without TimeoutSeconds and no default WHEN synthesized THEN it fails naming the file and the fix', () => {
    expect(() => build({ workflow: finishOnly() })).toThrow(
      /statemachines\/finish\.asl\.json: no top-level TimeoutSeconds\. Add one to the file .*-c workflowTimeoutSeconds=<seconds>.*-c workflowTimeouts='\{"finish":<seconds>\}'/,
    );
  });

  it.each([
    [0, /TimeoutSeconds must be a whole number of seconds from 1 to 31536000 .* got 0/],
    [
      MAX_WORKFLOW_TIMEOUT_SECONDS + 1,
      /from 1 to 31536000 \(one year, the Step Functions Standard limit\), got 31536001/,
    ],
    // asl-validator, which runs first, rejects what is not an integer
    [1.5, /finish\.asl\.json: invalid ASL: .*\/TimeoutSeconds is invalid\. must be integer/],
    ['600', /finish\.asl\.json: invalid ASL: .*\/TimeoutSeconds is invalid\. must be integer/],
  ])('GIVEN TimeoutSeconds %j in the file WHEN synthesized THEN it fails', (value, message) => {
    expect(() => build({ workflow: finishOnly({ TimeoutSeconds: value }) })).toThrow(message);
  });

  it('GIVEN the defaults WHEN deployed THEN it logs ERROR with execution data, encrypted with the key, and acknowledges SF1', () => {
    const { key, sm, template, json } = build({ workflow: finishOnly({ TimeoutSeconds: 60 }) });
    const keyId = logicalId(key);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      EncryptionConfiguration: {
        Type: 'CUSTOMER_MANAGED_KMS_KEY',
        KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      },
      LoggingConfiguration: Match.objectLike({ Level: 'ERROR', IncludeExecutionData: true }),
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      LogGroupName: {
        'Fn::Join': [
          '',
          ['/aws/vendedlogs/states/wflo-s-finish-', Match.objectLike({ 'Fn::Select': Match.anyValue() })],
        ],
      },
    });
    // The key lets CloudWatch Logs use it for exactly this log group, and log delivery decrypt.
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
            Action: Match.arrayWith(['kms:Decrypt*', 'kms:Encrypt*', 'kms:GenerateDataKey*']),
            Condition: {
              ArnEquals: {
                'kms:EncryptionContext:aws:logs:arn': {
                  'Fn::Join': [
                    '',
                    Match.arrayWith([
                      Match.stringLikeRegexp(':log-group:/aws/vendedlogs/states/wflo-s-finish-$'),
                    ]),
                  ],
                },
              },
            },
          }),
          Match.objectLike({ Principal: { Service: 'delivery.logs.amazonaws.com' }, Action: 'kms:Decrypt*' }),
        ]),
      },
    });
    // The role encrypts and decrypts execution data of this state machine only.
    const statements = statementsOfRole(json, logicalId(sm.stateMachine.role));
    const kmsStatement = statements.find((s) => actionsOf(s).includes('kms:Decrypt'));
    expect(kmsStatement).toMatchObject({
      Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
      Condition: { StringEquals: { 'kms:EncryptionContext:aws:states:stateMachineArn': expect.anything() } },
    });
    expect(acknowledgements(sm).map((a) => a.id)).toContain('AwsSolutions-SF1');
    expect(rawNagFindings(sm).map((v) => v.ruleName)).toContain('AwsSolutions-SF1');
    expect(nagFindings(sm).map((v) => v.ruleName)).toEqual([]);
  });

  it('GIVEN logLevel ALL WHEN deployed THEN it logs ALL and acknowledges nothing about it', () => {
    const { sm, template } = build({
      workflow: finishOnly({ TimeoutSeconds: 60 }),
      logLevel: sfn.LogLevel.ALL,
      includeExecutionData: false,
    });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
    });
    expect(acknowledgements(sm).map((a) => a.id)).not.toContain('AwsSolutions-SF1');
    expect(nagFindings(sm).map((v) => v.ruleName)).toEqual([]);
  });
});
