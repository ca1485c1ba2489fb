import { CfnOutput, Duration, type RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ENV, type EnvBindings } from '../../functions/shared/contracts/env.ts';
import { EXECUTION_EVENTS_TOPIC } from '../../functions/shared/events/kafka.ts';
import { ACTIVITIES, type ActivityDefinition, runsInVpc } from '../activities.ts';
import { ActivityFunction } from '../constructs/activity-function.ts';
import type { KafkaEvents } from '../constructs/kafka-events.ts';
import { dataRemovalPolicy } from '../constructs/names.ts';
import { SandboxTask } from '../constructs/sandbox-task.ts';
import { WfloFunction } from '../constructs/wflo-function.ts';
import { WorkflowStateMachine } from '../constructs/workflow-state-machine.ts';
import { listWorkflowFiles, type WorkflowFile } from '../workflows/files.ts';
import type { WfloContext } from './context.ts';
import type { DataStack } from './data-stack.ts';
import { grantExecutionData, grantOnExecutions } from './execution-grants.ts';
import { SUBNETS } from './network-stack.ts';

/** The projector's timeout; the status-change queue's visibility timeout is six times it. */
const PROJECTOR_TIMEOUT_SECONDS = 30;
/** Deliveries of one status change before it goes to the dead-letter queue (about 15 minutes of retries). */
export const PROJECTOR_MAX_RECEIVES = 5;
/** How often the reconciler runs. */
export const RECONCILE_EVERY_MINUTES = 5;
/** How often pending approvals past their expiry are marked expired (approval-sweeper). */
export const APPROVAL_SWEEP_EVERY_MINUTES = 1;
/** The relay's timeout: a minute of relaying plus the margin the handler keeps back. */
export const RELAY_TIMEOUT_SECONDS = 75;
/** The run notifier's consumer group (the consumer-lag alarm watches it). */
export const RUN_NOTIFIER_GROUP = 'wflo-run-notifier';

export interface OrchestrationStackProps extends StackProps {
  readonly prefix: string;
  readonly context: WfloContext;
  readonly vpc: ec2.IVpc;
  readonly lambdaSecurityGroup: ec2.ISecurityGroup;
  readonly sandboxSecurityGroup: ec2.ISecurityGroup;
  readonly data: DataStack;
  readonly logRetention: logs.RetentionDays;
  /** @default every entry of ACTIVITIES in infra/activities.ts */
  readonly activities?: readonly ActivityDefinition[];
  /** Sandbox image build context. @default 'sandbox-image' */
  readonly sandboxImageDirectory?: string;
  /** @default every statemachines/*.asl.json */
  readonly workflows?: readonly WorkflowFile[];
}

/**
 * The activities, the sandbox and the workflows: one ActivityFunction per ACTIVITIES entry (so a new activity
 * deploys by adding an entry), one Standard state machine per statemachines/*.asl.json, and the Fargate sandbox.
 */
export class OrchestrationStack extends Stack {
  readonly sandbox: SandboxTask;
  /** Encrypts the workflows' definitions, execution data and logs (customer managed, rotated). */
  readonly key: kms.Key;
  /** Activity functions by activity id. */
  readonly activities: ReadonlyMap<string, ActivityFunction>;
  /** State machines by workflow name. */
  readonly workflows: ReadonlyMap<string, WorkflowStateMachine>;
  /** Records how executions ended, from EventBridge status-change events. */
  readonly projector: WfloFunction;
  /** Status-change events on their way to the projector. */
  readonly statusChanges: sqs.Queue;
  /** Status-change events the projector could not take after its retries (or EventBridge could not deliver). */
  readonly projectorDeadLetters: sqs.Queue;
  /** Scheduled: moves executions left unfinished to the end Step Functions reports. */
  readonly reconciler: WfloFunction;
  /** Announces approval requests (approval-request publishes); subscribers are the user's choice. */
  readonly approvalsTopic: sns.Topic;
  /** Scheduled: marks pending approvals past their expiry `expired` (with `approval.expired`). */
  readonly approvalSweeper: WfloFunction;
  /** With MSK: the outbox relay (Aurora → Kafka), scheduled every minute, one instance at a time. */
  readonly relay: WfloFunction | undefined;
  /** With MSK: the run notifier, a Kafka consumer announcing run ends on {@link runNotificationsTopic}. */
  readonly runNotifier: WfloFunction | undefined;
  readonly runNotificationsTopic: sns.Topic | undefined;

  constructor(scope: Construct, id: string, props: OrchestrationStackProps) {
    super(scope, id, props);
    const { context: ctx, data } = props;
    const removal = dataRemovalPolicy(ctx.retainData);

    this.key = new kms.Key(this, 'WorkflowKey', {
      description: `${props.prefix}: encrypts the state machines' definitions, execution data and logs`,
      enableKeyRotation: true,
      removalPolicy: removal,
      pendingWindow: Duration.days(7),
    });

    this.sandbox = new SandboxTask(this, 'Sandbox', {
      prefix: props.prefix,
      vpc: props.vpc,
      subnets: { subnetGroupName: SUBNETS.sandbox },
      securityGroup: props.sandboxSecurityGroup,
      cpu: ctx.sandboxCpu,
      memoryMiB: ctx.sandboxMemoryMiB,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      imageDirectory: props.sandboxImageDirectory,
    });

    const llmSecret = ctx.llmSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'LlmSecret', ctx.llmSecretArn)
      : undefined;

    this.approvalsTopic = new sns.Topic(this, 'ApprovalsTopic', {
      topicName: `${props.prefix}-approvals`,
      displayName: `wflo ${props.prefix} approval requests`,
      // The message names what is asked (title, summary, link): encrypted like the execution data it comes from.
      masterKey: this.key,
      enforceSSL: true,
    });
    new CfnOutput(this, 'ApprovalsTopicArn', {
      value: this.approvalsTopic.topicArn,
      description: 'SNS topic announcing approval requests: subscribe e-mail, chat or a queue to it',
    });

    const activities = new Map<string, ActivityFunction>();
    const byVariable: Record<string, lambda.IFunction> = {};
    for (const activity of props.activities ?? ACTIVITIES) {
      const fn = new ActivityFunction(this, `Activity-${activity.id}`, {
        activity,
        namePrefix: props.prefix,
        logRetention: props.logRetention,
        logRemovalPolicy: removal,
        // Only an activity that needs a VPC-only resource (Valkey) runs in the VPC; the rest use public endpoints.
        ...(runsInVpc(activity)
          ? {
              vpc: props.vpc,
              vpcSubnets: { subnetGroupName: SUBNETS.private },
              securityGroups: [props.lambdaSecurityGroup],
            }
          : {}),
        environment: llmEnvironment(ctx),
      });
      for (const need of activity.needs) {
        if (need === 'store') data.bindStore(fn);
        else if (need === 'cache') data.bindCache(fn);
        else if (need === 'artifacts-read') data.bindArtifacts(fn, 'read');
        else if (need === 'artifacts-write') data.bindArtifacts(fn, 'write');
        else if (need === 'approvals-table') data.bindApprovals(fn, 'request');
        else if (need === 'approvals-notify') {
          fn.addEnvironment(ENV.APPROVALS_TOPIC_ARN, this.approvalsTopic.topicArn);
          // Exact actions (not grantPublish's GenerateDataKey*): SNS asks for one data key per message.
          fn.role.addToPrincipalPolicy(
            new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.approvalsTopic.topicArn] }),
          );
          fn.role.addToPrincipalPolicy(
            new iam.PolicyStatement({
              actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
              resources: [this.key.keyArn],
            }),
          );
        } else if (need === 'llm') {
          if (llmSecret) {
            fn.addEnvironment(ENV.LLM_SECRET_ARN, llmSecret.secretArn);
            llmSecret.grantRead(fn.role);
          }
          if (ctx.llmProvider === 'bedrock' && ctx.llmModel) grantBedrockModel(fn, ctx.llmModel);
        }
      }
      activities.set(activity.id, fn);
      byVariable[activity.variable] = fn.function;
    }
    this.activities = activities;

    const workflowFiles = props.workflows ?? listWorkflowFiles();
    const unknown = Object.keys(ctx.workflowTimeouts).filter((n) => !workflowFiles.some((w) => w.name === n));
    if (unknown.length > 0) {
      throw new Error(
        `workflowTimeouts names no deployed workflow: ${unknown.join(', ')} (workflows: ${workflowFiles.map((w) => w.name).join(', ')})`,
      );
    }
    const workflows = new Map<string, WorkflowStateMachine>();
    for (const workflow of workflowFiles) {
      workflows.set(
        workflow.name,
        new WorkflowStateMachine(this, `Workflow-${workflow.name}`, {
          workflow,
          prefix: props.prefix,
          functions: byVariable,
          sandbox: this.sandbox,
          logRetention: props.logRetention,
          logRemovalPolicy: removal,
          encryptionKey: this.key,
          logLevel: sfn.LogLevel[ctx.stateMachineLogLevel],
          includeExecutionData: ctx.stateMachineExecutionData,
          timeoutSeconds: ctx.workflowTimeouts[workflow.name],
          defaultTimeoutSeconds: ctx.workflowTimeoutSeconds,
        }),
      );
    }
    if (workflows.size === 0) throw new Error('no statemachines/*.asl.json found: nothing to deploy');
    for (const [name, wf] of workflows) {
      const id = name.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
      new CfnOutput(this, `StateMachine${id}`, {
        value: wf.stateMachine.stateMachineArn,
        description: `Step Functions state machine of workflow ${name}`,
      });
    }
    this.workflows = workflows;

    // Runs that end without their execution-finish step (failed outside a Catch, timed out, aborted) are
    // recorded from Step Functions' own status-change events, through a queue: rule → SQS → projector with
    // partial batch responses. Chosen over an async on-failure destination because a failed message is retried
    // alone for longer than Lambda's two async retries, lands in a dead-letter queue that can be redriven to
    // the projector unchanged after a fix (SQS redrive, no replay tooling), and the event source caps the
    // projector's concurrency, so a burst of run ends cannot swamp the Data API.
    const status = this.statusProjection(props, workflows, removal);
    this.projector = status.projector;
    this.statusChanges = status.queue;
    this.projectorDeadLetters = status.deadLetters;
    this.reconciler = status.reconciler;

    // The Task's TimeoutSeconds fails a waiting run on time, but nothing tells the approval record: a schedule does.
    this.approvalSweeper = new WfloFunction(this, 'ApprovalSweeper', {
      entry: 'functions/events/approval-sweeper.ts',
      description: 'wflo: marks pending approvals past their expiry as expired (approval.expired)',
      functionName: `${props.prefix}-approval-sweeper`,
      memoryMb: 256,
      timeoutSeconds: 60,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      environment: llmEnvironment(ctx),
    });
    data.bindStore(this.approvalSweeper);
    data.bindApprovals(this.approvalSweeper, 'sweep');
    // A failed run is not retried: the next scheduled run sweeps the same approvals.
    this.approvalSweeper.function.configureAsyncInvoke({ retryAttempts: 0 });
    new events.Rule(this, 'ApprovalSweepSchedule', {
      description: 'wflo: marks pending approvals past their expiry as expired',
      schedule: events.Schedule.rate(Duration.minutes(APPROVAL_SWEEP_EVERY_MINUTES)),
      targets: [new targets.LambdaFunction(this.approvalSweeper.function, { retryAttempts: 0 })],
    });

    const outbox = data.kafka ? this.kafkaEvents(props, data.kafka, removal) : undefined;
    this.relay = outbox?.relay;
    this.runNotifier = outbox?.notifier;
    this.runNotificationsTopic = outbox?.topic;
  }

  /**
   * The outbox on MSK: the relay Lambda (EventBridge every minute; each invocation relays for about a minute,
   * so the relay is close to always on at one instance) and the run notifier consumer with its SNS topic.
   */
  private kafkaEvents(props: OrchestrationStackProps, kafka: KafkaEvents, removal: RemovalPolicy) {
    const { context: ctx, data } = props;
    const relay = new WfloFunction(this, 'OutboxRelay', {
      entry: 'functions/events/outbox-relay.ts',
      description: 'wflo: relays the outbox (Aurora) to MSK Serverless, keyed by execution id',
      functionName: `${props.prefix}-outbox-relay`,
      memoryMb: 256,
      timeoutSeconds: RELAY_TIMEOUT_SECONDS,
      // One relay at a time: two would publish the same rows concurrently and break per-run order.
      reservedConcurrency: 1,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      vpc: props.vpc,
      vpcSubnets: { subnetGroupName: SUBNETS.private },
      securityGroups: [props.lambdaSecurityGroup],
      environment: llmEnvironment(ctx),
    });
    data.bindStore(relay);
    kafka.bindProducer(relay);
    // A missed or throttled tick is not retried: the next one, a minute later, starts where the outbox says.
    relay.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });
    new events.Rule(this, 'RelaySchedule', {
      description: 'wflo: starts the outbox relay (each run relays for about a minute)',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(relay.function, { retryAttempts: 0 })],
    });

    const topic = new sns.Topic(this, 'RunNotificationsTopic', {
      topicName: `${props.prefix}-run-notifications`,
      displayName: `wflo ${props.prefix} run ends`,
      masterKey: this.key,
      enforceSSL: true,
    });
    new CfnOutput(this, 'RunNotificationsTopicArn', {
      value: topic.topicArn,
      description:
        'SNS topic announcing how each run ended: subscribe e-mail, an HTTPS webhook or a queue to it',
    });
    const notifier = new WfloFunction(this, 'RunNotifier', {
      entry: 'functions/events/run-notifier.ts',
      description: 'wflo: Kafka consumer announcing run ends on SNS (consumer group wflo-run-notifier)',
      functionName: `${props.prefix}-run-notifier`,
      memoryMb: 256,
      timeoutSeconds: 60,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      environment: { [ENV.RUN_NOTIFICATIONS_TOPIC_ARN]: topic.topicArn },
    });
    notifier.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
    );
    notifier.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.key.keyArn],
      }),
    );
    kafka.bindConsumer(notifier, { group: RUN_NOTIFIER_GROUP, topic: EXECUTION_EVENTS_TOPIC });
    return { relay, notifier, topic };
  }

  /** The status projector (EventBridge rule → SQS → Lambda), its dead letters, and the scheduled reconciler. */
  private statusProjection(
    props: OrchestrationStackProps,
    workflows: ReadonlyMap<string, WorkflowStateMachine>,
    removal: RemovalPolicy,
  ) {
    const { context: ctx, data } = props;
    const stateMachineNames = [...workflows.keys()].map((name) => `${props.prefix}-${name}`);
    const projector = new WfloFunction(this, 'StatusProjector', {
      entry: 'functions/events/execution-status.ts',
      description: 'wflo: records how executions ended from Step Functions status-change events',
      functionName: `${props.prefix}-status-projector`,
      memoryMb: 256,
      timeoutSeconds: PROJECTOR_TIMEOUT_SECONDS,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      environment: llmEnvironment(ctx),
    });
    data.bindStore(projector);
    // It counts each run's state transitions from the execution history, to charge them to the ledger.
    grantOnExecutions(
      this,
      projector.role,
      stateMachineNames,
      ['states:GetExecutionHistory'],
      'Execution names are chosen at run time (the execution id); reading history is limited to executions of the ' +
        'deployed wflo state machines.',
    );
    // The history is encrypted with the workflow key: reading it decrypts.
    grantExecutionData(projector.role, [...workflows.values()], ['kms:Decrypt']);
    // No queue names: SQS refuses a deleted queue's name for 60 seconds, which would fail an immediate retry.
    const deadLetters = new sqs.Queue(this, 'StatusProjectorDlq', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const queue = new sqs.Queue(this, 'StatusChangeQueue', {
      // SSE-SQS: EventBridge cannot send to a queue encrypted with the AWS-managed KMS key.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Six times the function timeout, as Lambda recommends for SQS event sources.
      visibilityTimeout: Duration.seconds(6 * PROJECTOR_TIMEOUT_SECONDS),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: PROJECTOR_MAX_RECEIVES },
    });
    projector.function.addEventSource(
      new SqsEventSource(queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 5 }),
    );
    new events.Rule(this, 'StatusChanges', {
      description: 'wflo: terminal status changes of the wflo state machines',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: [...workflows.values()].map((wf) => wf.stateMachine.stateMachineArn),
        },
      },
      targets: [
        new targets.SqsQueue(queue, {
          deadLetterQueue: deadLetters,
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });

    // What even the queue misses (an event never delivered, a start that never happened) is found by age.
    const reconciler = new WfloFunction(this, 'Reconciler', {
      entry: 'functions/events/reconciler.ts',
      description: 'wflo: moves executions left unfinished to the end Step Functions reports',
      functionName: `${props.prefix}-reconciler`,
      memoryMb: 256,
      timeoutSeconds: 60,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      environment: {
        ...llmEnvironment(ctx),
        [ENV.WORKFLOW_STATE_MACHINES]: this.toJsonString(
          Object.fromEntries([...workflows].map(([name, wf]) => [name, wf.stateMachine.stateMachineArn])),
        ),
      },
    });
    data.bindStore(reconciler);
    grantOnExecutions(
      this,
      reconciler.role,
      stateMachineNames,
      ['states:DescribeExecution'],
      'Execution names are chosen at run time (the execution id); describing is limited to executions of the ' +
        'deployed wflo state machines.',
    );
    // DescribeExecution returns input and output, encrypted with the workflow key.
    grantExecutionData(reconciler.role, [...workflows.values()], ['kms:Decrypt']);
    // A failed run is not retried: the next scheduled run does the same work with fresher data.
    reconciler.function.configureAsyncInvoke({ retryAttempts: 0 });
    new events.Rule(this, 'ReconcileSchedule', {
      description: 'wflo: reconciles executions left unfinished',
      schedule: events.Schedule.rate(Duration.minutes(RECONCILE_EVERY_MINUTES)),
      targets: [new targets.LambdaFunction(reconciler.function, { retryAttempts: 0 })],
    });
    return { projector, queue, deadLetters, reconciler };
  }
}

/** The LLM and budget settings every function's loadConfig() reads. */
export function llmEnvironment(ctx: WfloContext): EnvBindings {
  return {
    [ENV.LLM_PROVIDER]: ctx.llmProvider,
    [ENV.WFLO_DEFAULT_BUDGET_USD]: ctx.defaultBudgetUsd,
    ...(ctx.llmModel ? { [ENV.LLM_MODEL]: ctx.llmModel } : {}),
    ...(ctx.llmBaseUrl
      ? { [ctx.llmProvider === 'anthropic' ? ENV.ANTHROPIC_BASE_URL : ENV.OPENAI_BASE_URL]: ctx.llmBaseUrl }
      : {}),
  };
}

/** Cross-region inference profile ids start with a geography (`us.`, `eu.`, `global.`...). */
const INFERENCE_PROFILE = /^(us|us-gov|eu|apac|jp|au|ca|global)\./;

/**
 * Lets a function call one Bedrock model (Converse needs bedrock:InvokeModel). A plain model id is granted in
 * this region only; an inference profile also needs the model in every region the profile routes to.
 */
export function grantBedrockModel(fn: WfloFunction, model: string): void {
  const stack = Stack.of(fn);
  const profile = INFERENCE_PROFILE.test(model);
  const foundationModel = profile ? model.replace(INFERENCE_PROFILE, '') : model;
  const resources = profile
    ? [
        stack.formatArn({ service: 'bedrock', resource: 'inference-profile', resourceName: model }),
        `arn:${stack.partition}:bedrock:*::foundation-model/${foundationModel}`,
      ]
    : [`arn:${stack.partition}:bedrock:${stack.region}::foundation-model/${foundationModel}`];
  fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['bedrock:InvokeModel'], resources }));
  if (profile) {
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/${foundationModel}]`,
      reason:
        `The cross-region inference profile ${model} routes each request to ${foundationModel} in one of several ` +
        'regions it chooses; the grant names that one model, in any region, and only through the profile.',
    });
  }
}
