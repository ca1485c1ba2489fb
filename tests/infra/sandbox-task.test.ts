import { Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CONTAINER, SANDBOX_USER } from '../../infra/constructs/sandbox-task.ts';
import { sharedWflo } from './app-fixture.ts';
import { logicalId, type SynthesizedWflo, statementsOfRole } from './helpers.ts';

/*
 * Construct: SandboxTask (infra/constructs/sandbox-task.ts), the Fargate task that runs untrusted code.
 */

let w: SynthesizedWflo;

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('Construct: SandboxTask', () => {
  it('is hardened: read-only root, /tmp volume, no capabilities, non-root, no environment, ARM64', () => {
    w.templates.orchestration.resourceCountIs('AWS::ECS::TaskDefinition', 1);
    w.templates.orchestration.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Volumes: [{ Name: 'tmp' }],
      ContainerDefinitions: [
        Match.objectLike({
          Name: SANDBOX_CONTAINER,
          ReadonlyRootFilesystem: true,
          User: SANDBOX_USER,
          Privileged: false,
          LinuxParameters: { Capabilities: { Drop: ['ALL'] }, InitProcessEnabled: true },
          MountPoints: [{ ContainerPath: '/tmp', SourceVolume: 'tmp', ReadOnly: false }],
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          Environment: Match.absent(),
          Secrets: Match.absent(),
        }),
      ],
    });
  });

  it('caps processes, core dumps and POSIX message queues of the sandbox user', () => {
    // THEN the container carries task-wide ulimits and no pid/ipc sharing
    w.templates.orchestration.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Name: SANDBOX_CONTAINER,
          Ulimits: Match.arrayWith([
            { Name: 'nofile', SoftLimit: 1024, HardLimit: 1024 },
            { Name: 'nproc', SoftLimit: 4096, HardLimit: 4096 },
            { Name: 'core', SoftLimit: 0, HardLimit: 0 },
            { Name: 'msgqueue', SoftLimit: 0, HardLimit: 0 },
          ]),
          PidMode: Match.absent(),
          IpcMode: Match.absent(),
        }),
      ],
    });
  });

  it('runs the task in the isolated sandbox subnets without a public IP, with no network besides S3 and the endpoints', () => {
    // THEN the RunTask call in the ASL uses the sandbox's subnets and security group, nothing public
    const sandbox = w.stacks.orchestration.sandbox;
    const isolated = w.stacks.network.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED });
    for (const id of sandbox.subnetIds) expect(isolated.subnetIds).toContain(id);
    expect(sandbox.securityGroup).toBe(w.stacks.network.sandboxSecurityGroup);
    const runTask = JSON.stringify(w.json.orchestration).match(/AssignPublicIp[^,}]*/g) ?? [];
    expect(runTask.length).toBeGreaterThan(0);
    for (const m of runTask) expect(m).toContain('DISABLED');
  });

  it('gives the task role no permissions at all', () => {
    const role = logicalId(w.stacks.orchestration.sandbox.taskRole);
    expect(statementsOfRole(w.json.orchestration, role)).toEqual([]);
    expect(w.json.orchestration.Resources[role]!.Properties?.ManagedPolicyArns).toBeUndefined();
  });

  it('runs on a cluster with Container Insights', () => {
    w.templates.orchestration.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });
});
