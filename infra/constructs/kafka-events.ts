import {
  type CfnElement,
  CustomResource,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { ManagedKafkaEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as msk from 'aws-cdk-lib/aws-msk';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ENV } from '../../functions/shared/contracts/env.ts';
import { TOPICS } from '../../functions/shared/events/kafka.ts';
import { acknowledgeAwsCustomResourceProvider } from './nag.ts';
import { WfloFunction } from './wflo-function.ts';

/** Every topic the project creates (functions/shared/events/kafka.ts). */
export const TOPIC_NAMES: readonly string[] = TOPICS.map((t) => t.name);

export interface KafkaEventsProps {
  /** Cluster name (e.g. `wflo-dev`). */
  readonly name: string;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Security groups allowed to connect on 9098 (SASL/IAM over TLS). */
  readonly clientSecurityGroups: ec2.ISecurityGroup[];
  /** Where the topics function runs: subnets with a route to the cluster and to AWS APIs (the private ones). */
  readonly functionSubnets: ec2.SubnetSelection;
  /** Retention of the lookup and topics functions' logs. */
  readonly logRetention: logs.RetentionDays;
  /** @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * MSK Serverless with IAM authentication for the outbox's events, a deploy-time lookup of its SASL/IAM
 * bootstrap brokers (CloudFormation does not return them), and a custom resource inside the VPC that creates
 * the topics (MSK Serverless has no CloudFormation topic resource). Producers and consumers get access
 * through {@link bindProducer} and {@link bindConsumer}, each granting exactly the kafka-cluster actions they use.
 */
export class KafkaEvents extends Construct {
  readonly cluster: msk.CfnServerlessCluster;
  readonly securityGroup: ec2.SecurityGroup;
  /** Comma-separated `host:9098` list, resolved at deploy time. */
  readonly bootstrapBrokers: string;
  /** Creates the topics (Create/Update; Delete leaves them). */
  readonly topics: CustomResource;
  readonly topicsFunction: WfloFunction;
  readonly #vpc: ec2.IVpc;
  readonly #functionSubnets: ec2.SubnetSelection;
  readonly #clientSecurityGroups: ec2.ISecurityGroup[];

  constructor(scope: Construct, id: string, props: KafkaEventsProps) {
    super(scope, id);
    this.#vpc = props.vpc;
    this.#functionSubnets = props.functionSubnets;
    this.#clientSecurityGroups = props.clientSecurityGroups;
    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: props.vpc,
      description: 'wflo MSK Serverless: SASL/IAM 9098 from the Lambdas and Lambda event pollers only',
      allowAllOutbound: false,
    });
    for (const client of props.clientSecurityGroups) {
      this.securityGroup.addIngressRule(client, ec2.Port.tcp(9098), 'Kafka clients (IAM auth)');
    }
    // Lambda's MSK event pollers attach to the cluster's subnets with this group: they reach the brokers
    // through it, and Lambda and STS over HTTPS (through the subnets' NAT).
    this.securityGroup.addIngressRule(
      this.securityGroup,
      ec2.Port.tcp(9098),
      'Lambda event pollers (IAM auth)',
    );
    this.securityGroup.addEgressRule(
      this.securityGroup,
      ec2.Port.tcp(9098),
      'Lambda event pollers to the brokers',
    );
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'Lambda event pollers to the Lambda and STS APIs',
    );
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

    this.topicsFunction = this.#inVpcFunction('TopicsHandler', {
      entry: 'functions/custom-resources/kafka-topics.ts',
      description: 'wflo: creates the Kafka topics on MSK Serverless (deploy time, IAM auth, in the VPC)',
      timeoutSeconds: 300,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    this.#connect(this.topicsFunction);
    this.topicsFunction.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:CreateTopic'],
        resources: TOPIC_NAMES.map((t) => this.topicArn(t)),
      }),
    );
    const provider = new cr.Provider(this, 'TopicsProvider', {
      onEventHandler: this.topicsFunction.function,
      logGroup: new logs.LogGroup(this, 'TopicsProviderLogs', {
        retention: props.logRetention,
        removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
      }),
    });
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        'The CDK Provider framework creates its own short-lived dispatcher function with this role; it only writes ' +
        'its logs and invokes the topics handler, and the framework does not expose the role for replacement.',
    });
    const handlerId = Stack.of(this).getLogicalId(
      this.topicsFunction.function.node.defaultChild as CfnElement,
    );
    Validations.of(provider).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${handlerId}.Arn>:*]`,
      reason:
        'The Provider framework invokes the topics handler by qualified ARN (version/alias); the wildcard is limited ' +
        'to qualifiers of that one function.',
    });
    this.topics = new CustomResource(this, 'Topics', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::WfloKafkaTopics',
      // A new topic in the list (or a new partition count) runs the resource again; existing topics are kept.
      properties: { Topics: TOPICS.map((t) => `${t.name}:${t.partitions}`).join(',') },
    });
    this.topics.node.addDependency(this.cluster);
  }

  /** A WfloFunction in the VPC with the Kafka client security groups (it can reach the brokers on 9098). */
  #inVpcFunction(
    id: string,
    props: Omit<ConstructorParameters<typeof WfloFunction>[2], 'vpc' | 'vpcSubnets' | 'securityGroups'>,
  ): WfloFunction {
    return new WfloFunction(this, id, {
      ...props,
      vpc: this.#vpc,
      vpcSubnets: this.#functionSubnets,
      securityGroups: this.#clientSecurityGroups,
    });
  }

  /** KAFKA_BROKERS + KAFKA_AUTH=iam, and connecting to the cluster. */
  #connect(fn: WfloFunction, extraClusterActions: string[] = []): void {
    if (!fn.function.isBoundToVpc) {
      throw new Error(`${fn.node.path}: a function that uses Kafka must run in the VPC`);
    }
    fn.addEnvironment(ENV.KAFKA_BROKERS, this.bootstrapBrokers).addEnvironment(ENV.KAFKA_AUTH, 'iam');
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeCluster', ...extraClusterActions],
        resources: [this.cluster.attrArn],
      }),
    );
  }

  /** The cluster's name and uuid from its ARN (`arn:…:cluster/<name>/<uuid>`), as tokens. */
  #nameAndUuid(): { name: string; uuid: string } {
    const resource = Fn.select(5, Fn.split(':', this.cluster.attrArn));
    return { name: Fn.select(1, Fn.split('/', resource)), uuid: Fn.select(2, Fn.split('/', resource)) };
  }

  /** `arn:…:group/<cluster name>/<cluster uuid>/<group>` for a consumer group of this cluster. */
  groupArn(group: string): string {
    const { name, uuid } = this.#nameAndUuid();
    const stack = Stack.of(this);
    return `arn:${stack.partition}:kafka:${stack.region}:${stack.account}:group/${name}/${uuid}/${group}`;
  }

  /** `arn:…:topic/<cluster name>/<cluster uuid>/<topic>` for a topic of this cluster. */
  topicArn(topic: string): string {
    const { name, uuid } = this.#nameAndUuid();
    const stack = Stack.of(this);
    return `arn:${stack.partition}:kafka:${stack.region}:${stack.account}:topic/${name}/${uuid}/${topic}`;
  }

  /**
   * Lets a function (in the VPC) publish the outbox: KAFKA_BROKERS and KAFKA_AUTH=iam, connect and
   * idempotent writes on the cluster, describe and write on exactly the project's topics (no CreateTopic:
   * the topics resource creates them).
   */
  bindProducer(fn: WfloFunction): void {
    this.#connect(fn, ['kafka-cluster:WriteDataIdempotently']);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
        resources: TOPIC_NAMES.map((t) => this.topicArn(t)),
      }),
    );
    fn.node.addDependency(this.topics);
  }

  /**
   * Subscribes a function to topics through a Lambda event-source mapping in `group` (the function itself need
   * not run in the VPC: Lambda's pollers attach to the cluster's subnets). Grants exactly what the pollers do
   * with the function's role: connect, read the topics, join and commit in that one consumer group.
   */
  bindConsumer(
    fn: WfloFunction,
    options: { group: string; topic: string; batchSize?: number; maxBatchingWindowSeconds?: number },
  ): ManagedKafkaEventSource {
    const source = new ManagedKafkaEventSource({
      clusterArn: this.cluster.attrArn,
      topic: options.topic,
      consumerGroupId: options.group,
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: options.batchSize ?? 100,
      maxBatchingWindow: Duration.seconds(options.maxBatchingWindowSeconds ?? 1),
    });
    fn.function.addEventSource(source);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
        resources: [this.cluster.attrArn],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        resources: [this.topicArn(options.topic)],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
        resources: [this.groupArn(options.group)],
      }),
    );
    Validations.of(fn.role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole]',
      reason:
        "Lambda's MSK event pollers need this AWS-managed policy's kafka:DescribeCluster(V2)/GetBootstrapBrokers and " +
        'EC2 network-interface actions to attach to the cluster subnets; the EC2 actions have no resource-level ' +
        'scoping and AWS keeps the list in step with the pollers. Topic and group access is granted separately.',
    });
    return source;
  }
}
