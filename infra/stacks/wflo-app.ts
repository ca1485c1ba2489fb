import { type App, Tags } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { EXECUTION_EVENTS_TOPIC } from '../../functions/shared/events/kafka.ts';
import { dataRemovalPolicy } from '../constructs/names.ts';
import { listWorkflowFiles } from '../workflows/files.ts';
import { API_GATEWAY_ACCOUNT_STACK, ApiGatewayAccountStack } from './api-gateway-account-stack.ts';
import { ApiStack } from './api-stack.ts';
import type { WfloContext } from './context.ts';
import { DataStack } from './data-stack.ts';
import { MonitoringStack } from './monitoring-stack.ts';
import { NetworkStack } from './network-stack.ts';
import { OrchestrationStack, RUN_NOTIFIER_GROUP } from './orchestration-stack.ts';

/** The five stacks of one wflo environment. */
export interface WfloStacks {
  readonly network: NetworkStack;
  readonly data: DataStack;
  readonly orchestration: OrchestrationStack;
  readonly api: ApiStack;
  readonly monitoring: MonitoringStack;
  /** The once-per-account API Gateway logging role, when `apiGatewayAccount` asks for it (not an environment stack). */
  readonly apiGatewayAccount?: ApiGatewayAccountStack;
}

/** Where the app finds code that is not infrastructure; defaults are the repository's own folders. */
export interface WfloOptions {
  /** @default 'sandbox-image' */
  readonly sandboxImageDirectory?: string;
  /** @default 'functions/api/handler.ts' */
  readonly apiEntry?: string;
  /** Folder of the `*.asl.json` workflow files. @default 'statemachines' of the repository */
  readonly statemachinesDirectory?: string;
}

/**
 * Adds one wflo environment (`Wflo-<env>-Network|Data|Orchestration|Api|Monitoring`) to an app.
 * Stacks are environment-agnostic so `cdk synth` needs no credentials; `cdk deploy` targets the CLI's account/region.
 * @example createWflo(new App(), parseContext(app.node.getAllContext()))
 */
export function createWflo(app: App, ctx: WfloContext, options: WfloOptions = {}): WfloStacks {
  const prefix = `wflo-${ctx.envName}`;
  const stackName = (part: string) => `Wflo-${ctx.envName}-${part}`;
  const logRetention = ctx.logRetentionDays as logs.RetentionDays;
  const description = (what: string) => `wflo (${ctx.envName}): ${what}`;
  const terminationProtection = ctx.terminationProtection;

  const network = new NetworkStack(app, stackName('Network'), {
    description: description('VPC, endpoints, flow logs, security groups'),
    terminationProtection,
    natGateways: ctx.natGateways,
    logRetention,
    removalPolicy: dataRemovalPolicy(ctx.retainData),
    kafka: ctx.kafka,
  });
  const data = new DataStack(app, stackName('Data'), {
    description: description(ctx.kafka ? 'Aurora, Valkey, MSK, S3' : 'Aurora, Valkey, S3'),
    terminationProtection,
    prefix,
    vpc: network.vpc,
    lambdaSecurityGroup: network.lambdaSecurityGroup,
    dbMinCapacity: ctx.dbMinCapacity,
    dbMaxCapacity: ctx.dbMaxCapacity,
    deletionProtection: ctx.deletionProtection,
    retainData: ctx.retainData,
    cacheMaxDataGb: ctx.cacheMaxDataGb,
    cacheMaxEcpuPerSecond: ctx.cacheMaxEcpuPerSecond,
    kafka: ctx.kafka,
    logRetention,
  });
  const orchestration = new OrchestrationStack(app, stackName('Orchestration'), {
    description: description('activities, sandbox, workflows'),
    terminationProtection,
    prefix,
    context: ctx,
    vpc: network.vpc,
    lambdaSecurityGroup: network.lambdaSecurityGroup,
    sandboxSecurityGroup: network.sandboxSecurityGroup,
    data,
    logRetention,
    sandboxImageDirectory: options.sandboxImageDirectory,
    workflows: options.statemachinesDirectory ? listWorkflowFiles(options.statemachinesDirectory) : undefined,
  });
  const api = new ApiStack(app, stackName('Api'), {
    description: description('REST API'),
    terminationProtection,
    prefix,
    context: ctx,
    data,
    workflows: orchestration.workflows,
    logRetention,
    entry: options.apiEntry,
  });
  const monitoring = new MonitoringStack(app, stackName('Monitoring'), {
    description: description('alarms and dashboard'),
    terminationProtection,
    prefix,
    alarmEmail: ctx.alarmEmail,
    alarmTopicArn: ctx.alarmTopicArn,
    costAlarmUsdPerHour: ctx.costAlarmUsdPerHour,
    dbMaxCapacity: ctx.dbMaxCapacity,
    workflows: orchestration.workflows,
    activities: orchestration.activities,
    apiFunction: api.handler,
    migrations: data.migrations.handler,
    statusProjection: {
      queue: orchestration.statusChanges,
      deadLetters: orchestration.projectorDeadLetters,
      projector: orchestration.projector,
      reconciler: orchestration.reconciler,
    },
    approvalSweeper: orchestration.approvalSweeper,
    ...(orchestration.relay && orchestration.runNotifier
      ? {
          kafkaEvents: {
            relay: orchestration.relay,
            consumer: orchestration.runNotifier,
            consumerGroup: RUN_NOTIFIER_GROUP,
            consumerTopic: EXECUTION_EVENTS_TOPIC,
          },
        }
      : {}),
    api: api.api,
    data,
  });

  for (const stack of [network, data, orchestration, api, monitoring]) {
    Tags.of(stack).add('project', 'wflo');
    Tags.of(stack).add('wflo:env', ctx.envName);
  }
  // Shared by every environment of the account and region, so it is found (not created again) by name.
  let apiGatewayAccount: ApiGatewayAccountStack | undefined;
  if (ctx.apiGatewayAccount) {
    apiGatewayAccount =
      (app.node.tryFindChild(API_GATEWAY_ACCOUNT_STACK) as ApiGatewayAccountStack | undefined) ??
      new ApiGatewayAccountStack(app, API_GATEWAY_ACCOUNT_STACK, {
        description:
          'wflo: API Gateway CloudWatch Logs role, once per account and region (no environment owns it)',
      });
    Tags.of(apiGatewayAccount).add('project', 'wflo');
    // The stage's access logging needs the account role first.
    api.addStackDependency(apiGatewayAccount, 'the stage writes access logs through the account role');
  }
  return {
    network,
    data,
    orchestration,
    api,
    monitoring,
    ...(apiGatewayAccount ? { apiGatewayAccount } : {}),
  };
}
