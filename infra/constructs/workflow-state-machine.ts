import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { findVariables } from '../activities.ts';
import {
  type AslDefinition,
  analyzeIntegrations,
  placeholderBindings,
  STATEMACHINES_DIR,
  validateWorkflow,
  type WorkflowFile,
  type WorkflowIntegrations,
} from './asl.ts';
import type { SandboxTask } from './sandbox-task.ts';

export interface WorkflowStateMachineProps {
  readonly workflow: WorkflowFile;
  /** Name prefix, e.g. `wflo-dev` → state machine `wflo-dev-<workflow>`. */
  readonly prefix: string;
  /** The activity functions, by substitution variable (e.g. `LlmInvokeFunction`). */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** The sandbox; required when the workflow runs ECS tasks. */
  readonly sandbox?: SandboxTask;
  readonly logRetention: logs.RetentionDays;
  /** @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Deploys one `statemachines/<name>.asl.json` as a Standard state machine:
 * - the file is validated at synth (every `${Var}` bound — the error names the variable — and asl-validator),
 *   then deployed as written, with CloudFormation `DefinitionSubstitutions` for exactly the variables it uses;
 * - logging level ALL with execution data to `/aws/vendedlogs/states/<prefix>-<name>`, X-Ray tracing;
 * - a role allowed exactly what the ASL calls: `lambda:InvokeFunction` on the functions it names, and for
 *   `ecs:runTask` the sandbox task definition in the sandbox cluster plus `iam:PassRole` on the sandbox roles only.
 */
export class WorkflowStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  readonly integrations: WorkflowIntegrations;
  readonly workflowName: string;

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    const { workflow } = props;
    const source = `${STATEMACHINES_DIR}/${workflow.name}.asl.json`;
    this.workflowName = workflow.name;

    const bindings: Record<string, string> = {
      ...Object.fromEntries(Object.entries(props.functions).map(([v, fn]) => [v, fn.functionArn])),
      ...(props.sandbox?.substitutions() ?? {}),
    };
    // Fails synth naming any ${Var} without a binding, then runs asl-validator. The real values are
    // CloudFormation tokens at synth time, so validation substitutes well-formed stand-ins for the same names.
    const placeholders = placeholderBindings();
    validateWorkflow(
      workflow,
      Object.fromEntries(
        Object.keys(bindings).map((k) => [
          k,
          placeholders[k] ?? `arn:aws:lambda:us-east-1:123456789012:function:${k}`,
        ]),
      ),
    );
    this.integrations = analyzeIntegrations(source, JSON.parse(workflow.text) as AslDefinition);
    if (this.integrations.ecsRunTask && !props.sandbox) {
      throw new Error(`${source}: runs ECS tasks but no sandbox was given to WorkflowStateMachine`);
    }

    const stack = Stack.of(this);
    const name = `${props.prefix}-${workflow.name}`;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${name}`,
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    const used = findVariables(workflow.text);
    const definitionSubstitutions = Object.fromEntries(used.map((v) => [v, bindings[v]!]));

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(workflow.text),
      definitionSubstitutions,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });

    for (const variable of this.integrations.lambdaVariables) {
      const fn = props.functions[variable]!;
      this.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
      );
    }

    const ecs = this.integrations.ecsRunTask;
    if (ecs && props.sandbox) {
      const sandbox = props.sandbox;
      this.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ecs:RunTask'],
          resources: [sandbox.taskDefinition.taskDefinitionArn],
          conditions: { ArnEquals: { 'ecs:cluster': sandbox.cluster.clusterArn } },
        }),
      );
      this.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['iam:PassRole'],
          resources: [sandbox.taskRole.roleArn, sandbox.executionRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
      );
      if (ecs.sync) {
        this.stateMachine.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
            resources: [
              stack.formatArn({
                service: 'ecs',
                resource: 'task',
                resourceName: `${sandbox.cluster.clusterName}/*`,
              }),
            ],
          }),
        );
        this.stateMachine.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
            resources: [
              stack.formatArn({
                service: 'events',
                resource: 'rule',
                resourceName: 'StepFunctionsGetEventsForECSTaskRule',
              }),
            ],
          }),
        );
      }
    }

    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Step Functions log delivery (logs:CreateLogDelivery, GetLogDelivery, ListLogDeliveries, PutResourcePolicy, ' +
        'DescribeResourcePolicies, DescribeLogGroups) and X-Ray tracing actions do not support resource-level permissions.',
    });
    if (ecs?.sync && props.sandbox) {
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${stack.getLogicalId(props.sandbox.cluster.node.defaultChild as never)}>/*]`,
        reason:
          'ecs:runTask.sync stops and describes the task it started; task ids are assigned at run time, so the resource ' +
          'is every task of the sandbox cluster only.',
      });
    }
  }
}
