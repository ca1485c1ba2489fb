import { RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { acknowledgeAwsCustomResourceProvider } from '../constructs/nag.ts';

/** Subnet group names; other stacks select subnets by these. */
export const SUBNETS = {
  public: 'public',
  /** Lambdas that need Valkey or MSK (the rest run outside the VPC): egress through NAT to LLM providers and AWS APIs. */
  private: 'private',
  /** Aurora, Valkey, MSK: no route out at all. */
  data: 'data',
  /** Sandbox tasks: no route out; S3 through the gateway endpoint, ECR and Logs through interface endpoints. */
  sandbox: 'sandbox',
} as const;

export interface NetworkStackProps extends StackProps {
  /** 1 (cheaper) or 2 (one per AZ). */
  readonly natGateways: number;
  readonly logRetention: logs.RetentionDays;
  /** What happens to the flow logs on replacement or stack deletion (see dataRemovalPolicy). */
  readonly removalPolicy: RemovalPolicy;
  /** Open the Lambdas' egress to MSK (9098) only when the environment has an MSK cluster. */
  readonly kafka: boolean;
}

/**
 * The VPC over two AZs and every security group, so data and compute stacks only reference them
 * (security-group rules between stacks then never form a dependency cycle).
 */
export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;
  /** Lambdas in the VPC (those needing Valkey or MSK): HTTPS anywhere (via NAT), Valkey (and MSK) inside it. */
  readonly lambdaSecurityGroup: ec2.SecurityGroup;
  /** Sandbox tasks: HTTPS to the S3 prefix list and to the interface endpoints, nothing else. */
  readonly sandboxSecurityGroup: ec2.SecurityGroup;
  /** Interface endpoints (ECR api, ECR dkr, CloudWatch Logs). */
  readonly endpointSecurityGroup: ec2.SecurityGroup;
  /** Id of the AWS-managed prefix list of S3 in this region (looked up at deploy time). */
  readonly s3PrefixListId: string;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      maxAzs: 2,
      natGateways: props.natGateways,
      restrictDefaultSecurityGroup: true,
      subnetConfiguration: [
        { name: SUBNETS.public, subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: SUBNETS.private, subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: SUBNETS.data, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
        { name: SUBNETS.sandbox, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: {
        S3: {
          service: ec2.GatewayVpcEndpointAwsService.S3,
          subnets: [{ subnetGroupName: SUBNETS.private }, { subnetGroupName: SUBNETS.sandbox }],
        },
      },
    });

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    this.lambdaSecurityGroup = new ec2.SecurityGroup(this, 'LambdaSg', {
      vpc: this.vpc,
      description: props.kafka
        ? 'wflo activity Lambdas: HTTPS out via NAT, Valkey and MSK inside the VPC'
        : 'wflo activity Lambdas: HTTPS out via NAT, Valkey inside the VPC',
      allowAllOutbound: false,
    });
    this.lambdaSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to LLM providers and AWS APIs (RDS Data API, Step Functions, Secrets Manager)',
    );
    this.lambdaSecurityGroup.addEgressRule(
      ec2.Peer.ipv4(this.vpc.vpcCidrBlock),
      ec2.Port.tcp(6379),
      'Valkey (TLS)',
    );
    if (props.kafka) {
      this.lambdaSecurityGroup.addEgressRule(
        ec2.Peer.ipv4(this.vpc.vpcCidrBlock),
        ec2.Port.tcp(9098),
        'MSK (IAM auth)',
      );
    }

    this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSg', {
      vpc: this.vpc,
      description:
        'wflo interface endpoints (ECR, CloudWatch Logs): HTTPS from the sandbox and the Lambdas only',
      allowAllOutbound: false,
    });
    this.sandboxSecurityGroup = new ec2.SecurityGroup(this, 'SandboxSg', {
      vpc: this.vpc,
      description:
        'wflo sandbox tasks: HTTPS to S3 (gateway endpoint) and the interface endpoints, nothing else',
      allowAllOutbound: false,
    });
    this.endpointSecurityGroup.addIngressRule(this.sandboxSecurityGroup, ec2.Port.tcp(443), 'sandbox tasks');
    this.endpointSecurityGroup.addIngressRule(
      this.lambdaSecurityGroup,
      ec2.Port.tcp(443),
      'activity Lambdas',
    );

    const interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    };
    for (const [name, service] of Object.entries(interfaceEndpoints)) {
      this.vpc.addInterfaceEndpoint(name, {
        service,
        subnets: { subnetGroupName: SUBNETS.sandbox },
        securityGroups: [this.endpointSecurityGroup],
        privateDnsEnabled: true,
        open: false,
      });
    }

    // The S3 prefix list id differs per region and has no CloudFormation attribute: read it at deploy time.
    const prefixListLookup = new cr.AwsCustomResource(this, 'S3PrefixList', {
      resourceType: 'Custom::S3PrefixListLookup',
      installLatestAwsSdk: false,
      logGroup: new logs.LogGroup(this, 'S3PrefixListLogs', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
      onUpdate: {
        service: 'EC2',
        action: 'describeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${this.region}.s3`] }] },
        physicalResourceId: cr.PhysicalResourceId.of(`s3-prefix-list-${this.region}`),
        outputPaths: ['PrefixLists.0.PrefixListId'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['ec2:DescribeManagedPrefixLists'], resources: ['*'] }),
      ]),
    });
    Validations.of(prefixListLookup).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeManagedPrefixLists is a Describe action without resource-level permissions; it is read-only.',
    });
    acknowledgeAwsCustomResourceProvider(prefixListLookup);
    this.s3PrefixListId = prefixListLookup.getResponseField('PrefixLists.0.PrefixListId');

    this.sandboxSecurityGroup.addEgressRule(
      ec2.Peer.prefixList(this.s3PrefixListId),
      ec2.Port.tcp(443),
      'S3 through the gateway endpoint (presigned URLs, image layers)',
    );
    this.sandboxSecurityGroup.addEgressRule(
      this.endpointSecurityGroup,
      ec2.Port.tcp(443),
      'ECR and Logs endpoints',
    );
  }
}
