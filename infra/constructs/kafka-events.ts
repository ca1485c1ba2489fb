import { Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as msk from 'aws-cdk-lib/aws-msk';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ENV } from '../../functions/shared/contracts/env.ts';
import { acknowledgeAwsCustomResourceProvider } from './nag.ts';
import type { WfloFunction } from './wflo-function.ts';

/** The topic the outbox relay publishes execution events to (keyed by execution id). */
export const EVENTS_TOPIC = 'wflo.events';

export interface KafkaEventsProps {
  /** Cluster name (e.g. `wflo-dev`). */
  readonly name: string;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Security groups allowed to connect on 9098 (SASL/IAM over TLS). */
  readonly clientSecurityGroups: ec2.ISecurityGroup[];
  /** Retention of the lookup function's logs. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * MSK Serverless with IAM authentication for the execution event stream, and a deploy-time lookup of its
 * SASL/IAM bootstrap brokers (CloudFormation does not return them).
 */
export class KafkaEvents extends Construct {
  readonly cluster: msk.CfnServerlessCluster;
  readonly securityGroup: ec2.SecurityGroup;
  /** Comma-separated `host:9098` list, resolved at deploy time. */
  readonly bootstrapBrokers: string;

  constructor(scope: Construct, id: string, props: KafkaEventsProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: props.vpc,
      description: 'wflo MSK Serverless: SASL/IAM 9098 from the Lambdas only',
      allowAllOutbound: false,
    });
    for (const client of props.clientSecurityGroups) {
      this.securityGroup.addIngressRule(client, ec2.Port.tcp(9098), 'Kafka clients (IAM auth)');
    }
    this.cluster = new msk.CfnServerlessCluster(this, 'Cluster', {
      // A required property of the resource type (no generated name exists); the env prefix keeps it unique per
      // environment, and a failed create deletes the cluster, so a retry can reuse the name.
      clusterName: props.name,
      clientAuthentication: { sasl: { iam: { enabled: true } } },
      vpcConfigs: [
        {
          subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
          securityGroups: [this.securityGroup.securityGroupId],
        },
      ],
    });

    const lookup = new cr.AwsCustomResource(this, 'BootstrapBrokers', {
      resourceType: 'Custom::MskBootstrapBrokers',
      installLatestAwsSdk: false,
      logGroup: new logs.LogGroup(this, 'BootstrapBrokersLogs', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
      onUpdate: {
        service: 'Kafka',
        action: 'getBootstrapBrokers',
        parameters: { ClusterArn: this.cluster.attrArn },
        physicalResourceId: cr.PhysicalResourceId.of(this.cluster.attrArn),
        outputPaths: ['BootstrapBrokerStringSaslIam'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['kafka:GetBootstrapBrokers'],
          resources: [this.cluster.attrArn],
        }),
      ]),
    });
    acknowledgeAwsCustomResourceProvider(lookup);
    this.bootstrapBrokers = lookup.getResponseField('BootstrapBrokerStringSaslIam');
  }

  /** `arn:…:topic/<cluster name>/<cluster uuid>/<topic>` for a topic of this cluster. */
  topicArn(topic: string): string {
    // Cluster ARN: arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid>
    const resource = Fn.select(5, Fn.split(':', this.cluster.attrArn));
    const name = Fn.select(1, Fn.split('/', resource));
    const uuid = Fn.select(2, Fn.split('/', resource));
    const stack = Stack.of(this);
    return `arn:${stack.partition}:kafka:${stack.region}:${stack.account}:topic/${name}/${uuid}/${topic}`;
  }

  /**
   * Lets a function publish to a topic: sets KAFKA_BROKERS and KAFKA_TOPIC and grants connect, describe,
   * create and write on exactly that topic. The function must run in the VPC.
   */
  bindProducer(fn: WfloFunction, topic = EVENTS_TOPIC): void {
    if (!fn.function.isBoundToVpc) {
      throw new Error(`${fn.node.path}: a function that uses Kafka must run in the VPC`);
    }
    fn.addEnvironment(ENV.KAFKA_BROKERS, this.bootstrapBrokers).addEnvironment(ENV.KAFKA_TOPIC, topic);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeCluster'],
        resources: [this.cluster.attrArn],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:CreateTopic', 'kafka-cluster:WriteData'],
        resources: [this.topicArn(topic)],
      }),
    );
  }
}
