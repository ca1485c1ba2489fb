import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { DatabaseMigrations } from '../constructs/database-migrations.ts';
import { KafkaEvents } from '../constructs/kafka-events.ts';
import { ValkeyCache } from '../constructs/valkey-cache.ts';
import type { WfloFunction } from '../constructs/wflo-function.ts';
import { SUBNETS } from './network-stack.ts';

/** Aurora listens here instead of 5432 (cdk-nag AwsSolutions-RDS11). */
export const DB_PORT = 5433;
export const DB_NAME = 'wflo';

export interface DataStackProps extends StackProps {
  /** Resource-name prefix, e.g. `wflo-dev`. */
  readonly prefix: string;
  readonly vpc: ec2.IVpc;
  /** Security group of the activity Lambdas (allowed to reach Valkey and MSK). */
  readonly lambdaSecurityGroup: ec2.ISecurityGroup;
  readonly dbMinCapacity: number;
  readonly dbMaxCapacity: number;
  readonly deletionProtection: boolean;
  readonly cacheMaxDataGb: number;
  readonly cacheMaxEcpuPerSecond: number;
  readonly kafka: boolean;
  readonly logRetention: logs.RetentionDays;
}

/** What an activity may do with the artifacts bucket. */
export type ArtifactsAccess = 'read' | 'write' | 'read-write';

/**
 * Every data store: Aurora PostgreSQL Serverless v2 (Data API, IAM auth, rotation, migrations at deploy time),
 * ElastiCache Serverless Valkey, MSK Serverless (optional), DynamoDB tables for approvals and idempotency, and the
 * artifacts bucket. All encrypted (one customer-managed key with rotation; SSE-S3 for the bucket so presigned URLs
 * work for the sandbox). Functions get access only through the `bindX()` helpers, which set the environment
 * variables loadConfig() reads and grant exactly that resource.
 */
export class DataStack extends Stack {
  readonly key: kms.Key;
  readonly cluster: rds.DatabaseCluster;
  readonly migrations: DatabaseMigrations;
  readonly cache: ValkeyCache;
  readonly kafka: KafkaEvents | undefined;
  readonly approvalsTable: dynamodb.Table;
  readonly idempotencyTable: dynamodb.Table;
  readonly artifactsBucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const removalPolicy = props.deletionProtection ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.key = new kms.Key(this, 'DataKey', {
      description: `${props.prefix}: encrypts Aurora storage, Valkey and the DynamoDB tables`,
      enableKeyRotation: true,
      removalPolicy: props.deletionProtection ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });

    // ---- Aurora PostgreSQL Serverless v2 ------------------------------------------------------------------
    const clusterIdentifier = `${props.prefix}-db`;
    // Created here (not by RDS on first export) so it has a retention without the LogRetention Lambda.
    const postgresLogs = new logs.LogGroup(this, 'DatabaseLogs', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: props.logRetention,
      removalPolicy,
    });
    this.cluster = new rds.DatabaseCluster(this, 'Database', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_16_13,
      }),
      clusterIdentifier,
      writer: rds.ClusterInstance.serverlessV2('Writer', { autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: props.dbMinCapacity,
      serverlessV2MaxCapacity: props.dbMaxCapacity,
      // The secret uses the account's aws/secretsmanager key: a customer-managed key here would put every
      // consumer's role into the key policy, a dependency cycle with the stacks that consume the secret.
      credentials: rds.Credentials.fromGeneratedSecret('wflo_admin', {
        secretName: `${props.prefix}/aurora/admin`,
      }),
      defaultDatabaseName: DB_NAME,
      port: DB_PORT,
      enableDataApi: true,
      iamAuthentication: true,
      storageEncrypted: true,
      storageEncryptionKey: this.key,
      deletionProtection: props.deletionProtection,
      removalPolicy: props.deletionProtection ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      backup: { retention: Duration.days(7) },
      cloudwatchLogsExports: ['postgresql'],
      vpc: props.vpc,
      vpcSubnets: { subnetGroupName: SUBNETS.data },
      copyTagsToSnapshot: true,
    });
    this.cluster.node.addDependency(postgresLogs);
    if (!props.deletionProtection) {
      Validations.of(this.cluster).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason:
          'Deletion protection was turned off for this environment on purpose (-c deletionProtection=false, for ' +
          'disposable dev/test environments that are torn down with cdk destroy); the default keeps it on.',
      });
    }
    this.cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      vpcSubnets: { subnetGroupName: SUBNETS.private },
    });
    this.migrations = new DatabaseMigrations(this, 'Migrations', {
      cluster: this.cluster,
      databaseName: DB_NAME,
      logRetention: props.logRetention,
      logRemovalPolicy: removalPolicy,
    });

    // ---- Valkey ----------------------------------------------------------------------------------------------
    this.cache = new ValkeyCache(this, 'Cache', {
      name: props.prefix,
      vpc: props.vpc,
      subnets: { subnetGroupName: SUBNETS.data },
      clientSecurityGroups: [props.lambdaSecurityGroup],
      encryptionKey: this.key,
      maxDataGb: props.cacheMaxDataGb,
      maxEcpuPerSecond: props.cacheMaxEcpuPerSecond,
    });

    // ---- MSK Serverless --------------------------------------------------------------------------------------
    this.kafka = props.kafka
      ? new KafkaEvents(this, 'Kafka', {
          name: props.prefix,
          vpc: props.vpc,
          subnets: { subnetGroupName: SUBNETS.data },
          clientSecurityGroups: [props.lambdaSecurityGroup],
          logRetention: props.logRetention,
        })
      : undefined;

    // ---- DynamoDB --------------------------------------------------------------------------------------------
    const tableDefaults = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection,
      removalPolicy,
    } as const;
    this.approvalsTable = new dynamodb.Table(this, 'Approvals', {
      ...tableDefaults,
      tableName: `${props.prefix}-approvals`,
      partitionKey: { name: 'approvalId', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
    });
    // Powertools idempotency's default DynamoDB layout.
    this.idempotencyTable = new dynamodb.Table(this, 'Idempotency', {
      ...tableDefaults,
      tableName: `${props.prefix}-idempotency`,
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiration',
    });

    // ---- S3 --------------------------------------------------------------------------------------------------
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      removalPolicy,
      autoDeleteObjects: false,
    });
    this.artifactsBucket = new s3.Bucket(this, 'Artifacts', {
      // SSE-S3, not KMS: the sandbox task has no IAM permissions and reads/writes through presigned URLs only.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        { id: 'expire-artifacts', expiration: Duration.days(30) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    });
  }

  /** Aurora Data API store: DB_CLUSTER_ARN, DB_SECRET_ARN, DB_NAME, and Data API + secret read on exactly these. */
  bindStore(fn: WfloFunction): void {
    const secret = this.cluster.secret;
    if (!secret) throw new Error('the Aurora cluster has no secret');
    fn.addEnvironment('DB_CLUSTER_ARN', this.cluster.clusterArn)
      .addEnvironment('DB_SECRET_ARN', secret.secretArn)
      .addEnvironment('DB_NAME', DB_NAME);
    this.cluster.grantDataApiAccess(fn.role);
  }

  /** Valkey: VALKEY_* and elasticache:Connect (see {@link ValkeyCache.bind}). */
  bindCache(fn: WfloFunction): void {
    this.cache.bind(fn);
  }

  /** Powertools idempotency table: IDEMPOTENCY_TABLE and item read/write on it. */
  bindIdempotency(fn: WfloFunction): void {
    fn.addEnvironment('IDEMPOTENCY_TABLE', this.idempotencyTable.tableName);
    this.grantItems(fn, this.idempotencyTable, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']);
  }

  /** Approval task tokens: APPROVALS_TABLE and item read/write on it. */
  bindApprovals(fn: WfloFunction): void {
    fn.addEnvironment('APPROVALS_TABLE', this.approvalsTable.tableName);
    this.grantItems(fn, this.approvalsTable, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query']);
  }

  /**
   * Artifacts bucket: ARTIFACTS_BUCKET and object read and/or write under `executions/`. Readers may also
   * list the bucket: without s3:ListBucket, S3 answers a GET of a missing key with 403 instead of 404, and a
   * sandbox result that never arrived could not be told from a denied read.
   */
  bindArtifacts(fn: WfloFunction, access: ArtifactsAccess): void {
    fn.addEnvironment('ARTIFACTS_BUCKET', this.artifactsBucket.bucketName);
    const actions = [
      ...(access === 'write' ? [] : ['s3:GetObject']),
      ...(access === 'read' ? [] : ['s3:PutObject', 's3:AbortMultipartUpload']),
    ];
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions, resources: [this.artifactsBucket.arnForObjects('executions/*')] }),
    );
    if (access !== 'write') {
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.artifactsBucket.bucketArn] }),
      );
    }
    // The function is in another stack, so its policy names the bucket through a cross-stack reference
    // (Fn::GetStackOutput), and cdk-nag's finding id quotes that reference. It exists only once references
    // are resolved, which synthesis does just before it validates the tree: acknowledge then, by the id
    // cdk-nag will compute.
    const role = fn.role;
    role.node.addValidation({
      validate: () => {
        const arn = Stack.of(role).resolve(this.artifactsBucket.bucketArn) as unknown;
        const getAtt = (arn as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
        const rendered = getAtt ? `<${getAtt[0]}.${getAtt[1]}>` : JSON.stringify(arn);
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${rendered}/executions/*]`,
          reason:
            'Artifact keys are created per execution at run time (executions/<id>/...); access is limited to that prefix ' +
            'of the one artifacts bucket.',
        });
        return [];
      },
    });
  }

  private grantItems(fn: WfloFunction, table: dynamodb.Table, actions: string[]): void {
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [table.tableArn] }),
    );
    this.key.grant(fn.role, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
  }
}
