import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedWflo } from './app-fixture.ts';
import { logicalId, resourcesOfType, type SynthesizedWflo, withoutAssetHashes } from './helpers.ts';

/*
 * Stack: Network (infra/stacks/network-stack.ts).
 */

let w: SynthesizedWflo;

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('Stack: Network', () => {
  const t = () => w.templates.network;

  it('spans two AZs with public, private, data and sandbox subnets, and logs all traffic', () => {
    t().resourceCountIs('AWS::EC2::VPC', 1);
    t().resourceCountIs('AWS::EC2::Subnet', 8);
    t().resourceCountIs('AWS::EC2::NatGateway', 1);
    t().hasResourceProperties('AWS::EC2::FlowLog', {
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
  });

  it('has the S3 gateway endpoint and the ECR/Logs interface endpoints the sandbox needs (no DynamoDB: no tables)', () => {
    t().resourceCountIs('AWS::EC2::VPCEndpoint', 4);
    for (const service of ['s3']) {
      t().hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([`.${service}`])] }),
      });
    }
    for (const service of ['ecr.api', 'ecr.dkr', 'logs']) {
      t().hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
        ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([`.${service}`])] }),
      });
    }
  });

  it('limits sandbox egress to HTTPS to the S3 prefix list and the endpoint security group', () => {
    const net = w.stacks.network;
    const sandboxSg = logicalId(net.sandboxSecurityGroup);
    const sg = w.json.network.Resources[sandboxSg]!.Properties as { SecurityGroupEgress?: unknown[] };
    const inline = sg.SecurityGroupEgress ?? [];
    const separate = resourcesOfType(w.json.network, 'AWS::EC2::SecurityGroupEgress')
      .map(([, r]) => r.Properties!)
      .filter((p) => JSON.stringify(p.GroupId).includes(sandboxSg));
    const rules = [...inline, ...separate] as Record<string, unknown>[];
    expect(rules).toHaveLength(2);
    for (const rule of rules) {
      expect(rule).toMatchObject({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 });
      expect(rule.CidrIp).toBeUndefined();
      expect(rule.CidrIpv6).toBeUndefined();
    }
    expect(rules.find((r) => r.DestinationPrefixListId)?.DestinationPrefixListId).toMatchObject({
      'Fn::GetAtt': [
        logicalId(w.stacks.network.node.findChild('S3PrefixList').node.findChild('Resource')),
        'PrefixLists.0.PrefixListId',
      ],
    });
    expect(rules.find((r) => r.DestinationSecurityGroupId)?.DestinationSecurityGroupId).toEqual({
      'Fn::GetAtt': [logicalId(net.endpointSecurityGroup), 'GroupId'],
    });
  });

  it('lets only the sandbox and the Lambdas reach the interface endpoints, and no one reach the VPC from outside', () => {
    const ingress = resourcesOfType(w.json.network, 'AWS::EC2::SecurityGroupIngress').map(
      ([, r]) => r.Properties!,
    );
    expect(ingress).toHaveLength(2);
    for (const rule of ingress) {
      expect(rule).toMatchObject({ FromPort: 443, ToPort: 443, SourceSecurityGroupId: expect.anything() });
    }
    expect(JSON.stringify(w.json.network)).not.toContain('0.0.0.0/0"},"FromPort"');
    for (const [, sg] of resourcesOfType(w.json.network, 'AWS::EC2::SecurityGroup')) {
      for (const rule of (sg.Properties?.SecurityGroupIngress as Record<string, unknown>[]) ?? []) {
        expect(rule.CidrIp).not.toBe('0.0.0.0/0');
      }
    }
  });

  it('matches its snapshot (asset hashes removed)', () => {
    expect(withoutAssetHashes(w.json.network)).toMatchSnapshot();
  });
});
