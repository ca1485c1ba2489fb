import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITIES, runsInVpc } from '../../infra/activities.ts';
import { SUBNETS } from '../../infra/stacks/network-stack.ts';
import { sharedWflo } from './app-fixture.ts';
import { type CfnTemplate, logicalId, type SynthesizedWflo } from './helpers.ts';

/*
 * Which Lambdas run in the VPC: only those that need a resource reachable only from inside it (Valkey; MSK
 * for the relay, see kafka-events.test.ts). The others use public AWS endpoints (Data API, S3, DynamoDB, SNS,
 * Step Functions) and run outside it: no ENI, no NAT traffic, a shorter cold start.
 */

let w: SynthesizedWflo;

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

interface VpcConfig {
  SubnetIds: unknown[];
  SecurityGroupIds: unknown[];
}

const vpcConfigOf = (t: CfnTemplate, id: string) =>
  (t.Resources[id]!.Properties as { VpcConfig?: VpcConfig }).VpcConfig;

describe('WHEN synthesized', () => {
  it('THEN the activities that lock or cache (llm-invoke, lock-acquire, lock-release) are the ones in the VPC', () => {
    expect(ACTIVITIES.filter(runsInVpc).map((a) => a.id)).toEqual([
      'llm-invoke',
      'lock-acquire',
      'lock-release',
    ]);
  });

  it('THEN each activity needing Valkey runs in the private subnets with the Lambda security group only', () => {
    const network = w.stacks.network;
    const sg = logicalId(network.lambdaSecurityGroup);
    const privateSubnets = network.vpc
      .selectSubnets({ subnetGroupName: SUBNETS.private })
      .subnets.map((s) => logicalId(s.node.defaultChild as never));
    expect(privateSubnets).toHaveLength(2);
    for (const activity of ACTIVITIES.filter(runsInVpc)) {
      const fn = w.stacks.orchestration.activities.get(activity.id)!;
      const vpc = vpcConfigOf(w.json.orchestration, logicalId(fn.function));
      expect(vpc, activity.id).toBeDefined();
      // Cross-stack references: each names the network stack's resource by its logical id.
      expect(vpc!.SecurityGroupIds, activity.id).toHaveLength(1);
      expect(JSON.stringify(vpc!.SecurityGroupIds[0]), activity.id).toContain(sg);
      expect(vpc!.SubnetIds, activity.id).toHaveLength(privateSubnets.length);
      vpc!.SubnetIds.forEach((subnet, i) => {
        expect(JSON.stringify(subnet), activity.id).toContain(privateSubnets[i]!);
      });
    }
  });

  it('THEN every other activity has no VpcConfig and no VPC access policy', () => {
    const outside = ACTIVITIES.filter((a) => !runsInVpc(a));
    expect(outside.length).toBeGreaterThan(0);
    for (const activity of outside) {
      const fn = w.stacks.orchestration.activities.get(activity.id)!;
      expect(vpcConfigOf(w.json.orchestration, logicalId(fn.function)), activity.id).toBeUndefined();
      const role = w.json.orchestration.Resources[logicalId(fn.role)]!.Properties as {
        ManagedPolicyArns?: unknown[];
      };
      expect(JSON.stringify(role.ManagedPolicyArns ?? []), activity.id).not.toContain(
        'AWSLambdaVPCAccessExecutionRole',
      );
    }
  });

  it('THEN the API and the event Lambdas that use only public endpoints run outside the VPC', () => {
    const o = w.stacks.orchestration;
    const fns: [string, CfnTemplate, string][] = [
      ['api', w.json.api, logicalId(w.stacks.api.handler.function)],
      ['approval-sweeper', w.json.orchestration, logicalId(o.approvalSweeper.function)],
      ['status-projector', w.json.orchestration, logicalId(o.projector.function)],
      ['reconciler', w.json.orchestration, logicalId(o.reconciler.function)],
    ];
    for (const [name, template, id] of fns) expect(vpcConfigOf(template, id), name).toBeUndefined();
  });
});
