import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { APPROVALS_TABLE } from '../../functions/shared/approvals/dynamo-layout.ts';
import { ENV } from '../../functions/shared/contracts/env.ts';
import { DatabaseMigrations } from '../constructs/database-migrations.ts';
import { KafkaEvents } from '../constructs/kafka-events.ts';
import { dataRemovalPolicy, stackSuffix } from '../constructs/names.ts';
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
  /** Aurora deletion protection (the second step for production, see DEPLOYMENT.md). */
  readonly deletionProtection: boolean;
  /** Keep data and logs on replacement or stack deletion (RETAIN_ON_UPDATE_OR_DELETE; Aurora: a final snapshot). */
  readonly retainData: boolean;
  readonly cacheMaxDataGb: number;
  readonly cacheMaxEcpuPerSecond: number;
  /** Deploy MSK Serverless, its topics, the relay and the run notifier (see the `kafka` context flag). */
  readonly kafka: boolean;
  readonly logRetention: logs.RetentionDays;
}

/** What an activity may do with the artifacts bucket. */
export type ArtifactsAccess = 'read' | 'write' | 'read-write';

/**
 * What a function does with the approvals table: `request` writes new records (approval-request), `decide`
 * reads, lists and settles them (the API), `sweep` finds and expires the due ones (approval-sweeper).
 */
export type ApprovalsAccess = 'request' | 'decide' | 'sweep';

const APPROVALS_ACTIONS: Readonly<Record<ApprovalsAccess, readonly string[]>> = {
  request: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem'],
  decide: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
  sweep: ['dynamodb:Query', 'dynamodb:UpdateItem'],
};

/**
 * Every data store: Aurora PostgreSQL Serverless v2 (Data API, IAM auth, rotation, migrations at deploy time),
 * ElastiCache Serverless Valkey, MSK Serverless (only with `kafka`; {@link DataStack.kafka} is undefined otherwise),
 * and the artifacts bucket. All encrypted (one customer-managed key with rotation; SSE-S3 for the bucket so presigned
 * URLs work for the sandbox), and the DynamoDB approvals table (pending approvals with a TTL; the audit copy is in
 * Aurora). Functions get access only through the `bindX()` helpers, which set the environment variables
 * loadConfig() reads and grant exactly that resource.
 */
export class DataStack extends Stack {
  readonly key: kms.Key;
  readonly cluster: rds.DatabaseCluster;
  readonly migrations: DatabaseMigrations;
  readonly cache: ValkeyCache;
  /** MSK Serverless, or undefined when the environment runs without it (the default). */
  readonly kafka: KafkaEvents | undefined;
  readonly artifactsBucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;
  /** Approval records (functions/shared/approvals/dynamo-approvals.ts); the audit copy lives in Aurora. */
  readonly approvalsTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const removalPolicy = dataRemovalPolicy(props.retainData);

    this.key = new kms.Key(this, 'DataKey', {
      description: `${props.prefix}: encrypts Aurora storage, Valkey and the approvals table`,
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: Duration.days(7),
    });

    // ---- Aurora PostgreSQL Serverless v2 ------------------------------------------------------------------
    // A physical name on purpose: RDS exports to /aws/rds/cluster/<identifier>/postgresql, and that log group is
    // created here first (so it has a retention without the LogRetention Lambda), so the identifier must be known
    // before the cluster exists. It ends with the stack's id, so a retained log group of a destroyed environment
    // does not block creating the environment again; the fixed name also means CloudFormation never replaces the
    // cluster (with its data) silently: a change that needs replacement fails instead.
    const clusterIdentifier = `${props.prefix}-db-${stackSuffix(this)}`;
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
      // No secret name: a deleted secret keeps its name for its recovery window, which would block a retry.
      credentials: rds.Credentials.fromGeneratedSecret('wflo_admin'),
      defaultDatabaseName: DB_NAME,
      port: DB_PORT,
      enableDataApi: true,
      iamAuthentication: true,
      storageEncrypted: true,
      storageEncryptionKey: this.key,
      deletionProtection: props.deletionProtection,
      removalPolicy: props.retainData ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
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
          'Deletion protection is off for the first deploy on purpose: a protected cluster blocks the rollback of a ' +
          'failed create, so the deploy could not be retried. DEPLOYMENT.md makes -c deletionProtection=true the ' +
          'second step for production, once the environment is up.',
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
          // The private subnets, not the isolated data ones: Lambda's MSK event pollers attach here and must
          // reach the Lambda and STS APIs (through the NAT; interface endpoints would cost more per month).
          subnets: { subnetGroupName: SUBNETS.private },
          clientSecurityGroups: [props.lambdaSecurityGroup],
          functionSubnets: { subnetGroupName: SUBNETS.private },
          logRetention: props.logRetention,
          logRemovalPolicy: removalPolicy,
        })
      : undefined;

    // ---- DynamoDB: approvals ---------------------------------------------------------------------------------
    // No table name: a retained table of a destroyed environment must not block creating it again.
    this.approvalsTable = new dynamodb.Table(this, 'Approvals', {
      partitionKey: { name: APPROVALS_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Decided and expired records go a retention after they end (dynamo-layout.ts); Aurora keeps the history.
      timeToLiveAttribute: APPROVALS_TABLE.ttlAttribute,
      deletionProtection: props.deletionProtection,
      removalPolicy,
    });
    for (const [indexName, sortKey] of [
      [APPROVALS_TABLE.byStatusCreated, 'createdAt'],
      [APPROVALS_TABLE.byStatusExpiry, 'expiresAt'],
    ] as const) {
      this.approvalsTable.addGlobalSecondaryIndex({
        indexName,
        partitionKey: { name: 'status', type: dynamodb.AttributeType.STRING },
        sortKey: { name: sortKey, type: dynamodb.AttributeType.NUMBER },
      });
    }

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
    fn.addEnvironment(ENV.DB_CLUSTER_ARN, this.cluster.clusterArn)
      .addEnvironment(ENV.DB_SECRET_ARN, secret.secretArn)
      .addEnvironment(ENV.DB_NAME, DB_NAME);
    this.cluster.grantDataApiAccess(fn.role);
  }

  /**
   * Approvals table: APPROVALS_TABLE, the item actions the access needs on the table (and Query on its two
   * indexes, named exactly), and the data key's use through DynamoDB only (the table is encrypted with it).
   */
  bindApprovals(fn: WfloFunction, access: ApprovalsAccess): void {
    fn.addEnvironment(ENV.APPROVALS_TABLE, this.approvalsTable.tableName);
    const actions = APPROVALS_ACTIONS[access];
    const table = this.approvalsTable.tableArn;
    const indexes = [APPROVALS_TABLE.byStatusCreated, APPROVALS_TABLE.byStatusExpiry].map(
      (name) => `${table}/index/${name}`,
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: actions.filter((a) => a !== 'dynamodb:Query'), resources: [table] }),
    );
    if (actions.includes('dynamodb:Query')) {
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: indexes }),
      );
    }
    // DynamoDB decrypts (reads) and asks for data keys (writes) with the caller's permissions.
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }

  /** Valkey: VALKEY_* and elasticache:Connect (see {@link ValkeyCache.bind}). */
  bindCache(fn: WfloFunction): void {
    this.cache.bind(fn);
  }

  /**
   * Artifacts bucket: ARTIFACTS_BUCKET and object read and/or write under `executions/`. Readers may also
   * list the bucket: without s3:ListBucket, S3 answers a GET of a missing key with 403 instead of 404, and a
   * sandbox result that never arrived could not be told from a denied read.
   */
  bindArtifacts(fn: WfloFunction, access: ArtifactsAccess): void {
    fn.addEnvironment(ENV.ARTIFACTS_BUCKET, this.artifactsBucket.bucketName);
    const actions = [
      ...(access === 'write' ? [] : ['s3:GetObject']),
      // No s3:AbortMultipartUpload: nothing uploads in parts (PutObject and presigned single PUTs only).
      ...(access === 'read' ? [] : ['s3:PutObject']),
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
}
