import { Match } from 'aws-cdk-lib/assertions';
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
