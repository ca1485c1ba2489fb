import { resolve } from 'node:path';
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REPO_ROOT } from './wflo-function.ts';

/** Name of the container in the task definition (ASL ContainerOverrides refer to it). */
export const SANDBOX_CONTAINER = 'sandbox';
/** uid:gid the untrusted code runs as (nobody), whatever the image declares. */
export const SANDBOX_USER = '65534:65534';

/**
 * Task-wide rlimits, a ceiling above the per-run ones the runner sets with prlimit: processes of the
 * sandbox user (a fork bomb stops here whatever the run asked for), no core dumps, no POSIX message
 * queue memory (RLIMIT_MSGQUEUE, outside the address-space limit), a fixed open-file count.
 */
export const SANDBOX_ULIMITS: readonly ecs.Ulimit[] = [
  { name: ecs.UlimitName.NOFILE, softLimit: 1024, hardLimit: 1024 },
  { name: ecs.UlimitName.NPROC, softLimit: 4096, hardLimit: 4096 },
  { name: ecs.UlimitName.CORE, softLimit: 0, hardLimit: 0 },
  { name: ecs.UlimitName.MSGQUEUE, softLimit: 0, hardLimit: 0 },
];

export interface SandboxTaskProps {
  /** Name prefix, e.g. `wflo-dev`. */
  readonly prefix: string;
  readonly vpc: ec2.IVpc;
  /** Isolated subnets the tasks run in (no route out). */
  readonly subnets: ec2.SubnetSelection;
  /** The sandbox security group (egress to S3 and the endpoints only). */
  readonly securityGroup: ec2.ISecurityGroup;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Image build context (Dockerfile inside), relative to the repository root. @default 'sandbox-image' */
  readonly imageDirectory?: string;
}

/**
 * The Fargate cluster and hardened task definition that run untrusted code, built from `sandbox-image/`:
 * read-only root filesystem with a writable `/tmp` volume, every Linux capability dropped, an init process,
 * a non-root user, no environment in the definition, and a task role with no permissions at all (the code
 * reaches S3 only through presigned URLs, over the gateway endpoint). The task runs in isolated subnets
 * (no route out) with a security group whose only egress is HTTPS to the S3 prefix list and the
 * ECR/Logs endpoints; its memory is the task's hard limit, shared memory included (Fargate runs each
 * task in its own microVM). What Fargate cannot express (pids cgroup limit, IPC mode, /dev/shm size,
 * a custom seccomp profile) is listed in docs/sandbox.md.
 */
export class SandboxTask extends Construct {
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  /** The task role: trusted by ECS tasks, holds no policy. */
  readonly taskRole: iam.Role;
  /** The role ECS uses to pull the image and write logs (not available to the code). */
  readonly executionRole: iam.IRole;
  readonly subnetIds: string[];
  readonly securityGroup: ec2.ISecurityGroup;

  constructor(scope: Construct, id: string, props: SandboxTaskProps) {
    super(scope, id);
    this.securityGroup = props.securityGroup;
    this.subnetIds = props.vpc.selectSubnets(props.subnets).subnetIds;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      clusterName: `${props.prefix}-sandbox`,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      enableFargateCapacityProviders: true,
    });

    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'wflo sandbox task role: intentionally without permissions',
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: `${props.prefix}-sandbox`,
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole,
    });
    this.taskDefinition.addVolume({ name: 'tmp' });
    this.executionRole = this.taskDefinition.obtainExecutionRole();

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    const linuxParameters = new ecs.LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: true });
    linuxParameters.dropCapabilities(ecs.Capability.ALL);

    this.container = this.taskDefinition.addContainer(SANDBOX_CONTAINER, {
      containerName: SANDBOX_CONTAINER,
      image: ecs.ContainerImage.fromAsset(resolve(REPO_ROOT, props.imageDirectory ?? 'sandbox-image'), {
        platform: Platform.LINUX_ARM64,
      }),
      essential: true,
      readonlyRootFilesystem: true,
      user: SANDBOX_USER,
      privileged: false,
      linuxParameters,
      stopTimeout: undefined,
      ulimits: [...SANDBOX_ULIMITS],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'sandbox', logGroup }),
    });
    this.container.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });

    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'The task execution role (used by ECS, not by the sandboxed code) needs ecr:GetAuthorizationToken, which ' +
        'does not support resource-level permissions; image pulls are limited to the asset repository.',
    });
  }

  /** Values of the sandbox ASL substitution variables. */
  substitutions(): Record<
    'SandboxCluster' | 'SandboxTaskDefinition' | 'SandboxSubnets' | 'SandboxSecurityGroup',
    string
  > {
    return {
      SandboxCluster: this.cluster.clusterArn,
      SandboxTaskDefinition: this.taskDefinition.taskDefinitionArn,
      // One string for a JSON string field; the ASL splits it: "Subnets.$": "States.StringSplit('${SandboxSubnets}', ',')"
      SandboxSubnets: this.subnetIds.join(','),
      SandboxSecurityGroup: this.securityGroup.securityGroupId,
    };
  }
}
