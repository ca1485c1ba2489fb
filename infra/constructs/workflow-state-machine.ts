import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { placeholderBindings } from '../workflows/bindings.ts';
import { checkWorkflow } from '../workflows/check.ts';
import { findVariables, type WorkflowFile } from '../workflows/files.ts';
import type { WorkflowIntegrations } from '../workflows/integrations.ts';
import { stackSuffix } from './names.ts';
import type { SandboxTask } from './sandbox-task.ts';

/** Step Functions Standard: an execution runs at most one year, the ceiling of a top-level TimeoutSeconds. */
export const MAX_WORKFLOW_TIMEOUT_SECONDS = 31_536_000;

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
  /**
   * Customer managed key that encrypts the state machine's definition and execution data (EncryptionConfiguration)
   * and its log group. Its key policy must keep the account's IAM delegation (the default), so the grants on the
   * state machine's role apply; this construct adds the CloudWatch Logs service statement for its log group.
   */
  readonly encryptionKey: kms.IKey;
  /** @default sfn.LogLevel.ERROR */
  readonly logLevel?: sfn.LogLevel;
  /** Execution input and output in the log events (encrypted with {@link encryptionKey}). @default true */
  readonly includeExecutionData?: boolean;
  /** Top-level TimeoutSeconds that replaces the file's own (a per-environment override). */
  readonly timeoutSeconds?: number;
  /** Top-level TimeoutSeconds for a file that declares none. @default none: such a file fails synth */
  readonly defaultTimeoutSeconds?: number;
}

/**
 * The top-level TimeoutSeconds a workflow runs with: the override, else the file's own, else the default. Throws,
 * naming the file and how to fix it, when there is none or it is not 1..{@link MAX_WORKFLOW_TIMEOUT_SECONDS}.
 */
export function workflowTimeout(
  source: string,
  declared: unknown,
  override: number | undefined,
  fallback: number | undefined,
): number {
  const timeout = override ?? declared ?? fallback;
  if (timeout === undefined) {
    const name = source.replace(/^.*\//, '').replace(/\.asl\.json$/, '');
    throw new Error(
      `${source}: no top-level TimeoutSeconds. Add one to the file (whole seconds, at most ` +
        `${MAX_WORKFLOW_TIMEOUT_SECONDS}), or pass -c workflowTimeoutSeconds=<seconds> for every workflow without one, ` +
        `or -c workflowTimeouts='{"${name}":<seconds>}'`,
    );
  }
  if (
    typeof timeout !== 'number' ||
    !Number.isInteger(timeout) ||
    timeout < 1 ||
    timeout > MAX_WORKFLOW_TIMEOUT_SECONDS
  ) {
    throw new Error(
      `${source}: TimeoutSeconds must be a whole number of seconds from 1 to ${MAX_WORKFLOW_TIMEOUT_SECONDS} ` +
        `(one year, the Step Functions Standard limit), got ${JSON.stringify(timeout)}`,
    );
  }
  return timeout;
}

/**
 * Deploys one `statemachines/<name>.asl.json` as a Standard state machine:
 * - the file is validated at synth (every `${Var}` bound — the error names the variable — and asl-validator),
 *   then deployed as written, with CloudFormation `DefinitionSubstitutions` for exactly the variables it uses;
 * - a top-level TimeoutSeconds always: the file's, a per-environment override, or a default (see {@link workflowTimeout});
 * - definition and execution data encrypted with a customer managed key, logs (level ERROR by default, with
 *   execution data) to a log group encrypted with the same key, `/aws/vendedlogs/states/<prefix>-<name>-<stack id>`
 *   (the prefix Step Functions recommends, so log delivery does not grow the account's resource policy);
 * - X-Ray tracing;
 * - a role allowed exactly what the ASL calls: `lambda:InvokeFunction` on the functions it names, and for
 *   `ecs:runTask` the sandbox task definition in the sandbox cluster plus `iam:PassRole` on the sandbox roles only.
 */
export class WorkflowStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  readonly integrations: WorkflowIntegrations;
  readonly workflowName: string;
  /** The ASL file it was built from (its input schema sits next to it). */
  readonly workflowFile: string;
  /** The top-level TimeoutSeconds deployed. */
  readonly timeoutSeconds: number;
  /** Encrypts the definition, execution data and logs; callers of execution APIs need it (grantExecutionData). */
  readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    const { workflow } = props;
    this.workflowName = workflow.name;
    this.workflowFile = workflow.path;
    this.encryptionKey = props.encryptionKey;

    const bindings: Record<string, string> = {
      ...Object.fromEntries(Object.entries(props.functions).map(([v, fn]) => [v, fn.functionArn])),
      ...(props.sandbox?.substitutions() ?? {}),
    };
    // The one workflow check (infra/workflows/check.ts): fails synth naming any ${Var} without a binding, invalid
    // ASL, a broken house rule (file and state) or an integration that cannot be granted. The real values are
    // CloudFormation tokens at synth time, so it substitutes well-formed stand-ins for the same names.
    const placeholders = placeholderBindings();
    const checked = checkWorkflow(
      workflow,
      Object.fromEntries(
        Object.keys(bindings).map((k) => [
          k,
          placeholders[k] ?? `arn:aws:lambda:us-east-1:123456789012:function:${k}`,
        ]),
      ),
    );
    const { source, raw: definition } = checked;
    this.integrations = checked.integrations;
    this.timeoutSeconds = workflowTimeout(
      source,
      definition.TimeoutSeconds,
      props.timeoutSeconds,
      props.defaultTimeoutSeconds,
    );
    // Deployed with the timeout set at the top level and each Lambda Task's transition bound in its Payload (the budget holds it before the step).
    const text = JSON.stringify({ ...checked.deployed, TimeoutSeconds: this.timeoutSeconds }, null, 2);
    if (this.integrations.ecsRunTask && !props.sandbox) {
      throw new Error(`${source}: runs ECS tasks but no sandbox was given to WorkflowStateMachine`);
    }

    const stack = Stack.of(this);
    const logLevel = props.logLevel ?? sfn.LogLevel.ERROR;
    // A physical name on purpose: executions are scoped by it in IAM (execution:<name>:*), the key's encryption
    // context names it, and people find it in the console; state machines are updated in place, not replaced.
    const name = `${props.prefix}-${workflow.name}`;
    // Named for the /aws/vendedlogs/ prefix; the stack id suffix keeps a log group retained by a destroyed
    // environment from blocking the same environment's next create.
    const logGroupName = `/aws/vendedlogs/states/${name}-${stackSuffix(stack)}`;
    // CloudWatch Logs checks the key when it creates the group: the statement names the group by its ARN
    // (formatted, not a reference to the group, which would be a dependency cycle between the key and the group).
    props.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnEquals: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: logGroupName,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName,
      retention: props.logRetention,
      encryptionKey: props.encryptionKey,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    const used = findVariables(text);
    const definitionSubstitutions = Object.fromEntries(used.map((v) => [v, bindings[v]!]));

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(text),
      definitionSubstitutions,
      tracingEnabled: true,
      encryptionConfiguration: new sfn.CustomerManagedEncryptionConfiguration(props.encryptionKey),
      logs: {
        destination: this.logGroup,
        level: logLevel,
        includeExecutionData: props.includeExecutionData ?? true,
      },
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
    if (logLevel !== sfn.LogLevel.ALL) {
      Validations.of(this.stateMachine).acknowledge({
        id: 'AwsSolutions-SF1',
        reason:
          `This environment logs ${logLevel} events (-c stateMachineLogLevel), not every state transition: failures keep ` +
          'their execution data, prompts and model output of healthy runs stay out of the logs, and the full history ' +
          'remains in the Step Functions execution history and the wflo step ledger. Dev environments log ALL.',
      });
    }
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
