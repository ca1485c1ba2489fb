import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { APPROVALS_TABLE } from '../../functions/shared/approvals/dynamo-layout.ts';
import { DB_PORT } from '../../infra/stacks/data-stack.ts';
import { sharedWflo } from './app-fixture.ts';
import {
  logicalId,
  resourcesOfType,
  STACK_KEYS,
  type SynthesizedWflo,
  withoutAssetHashes,
} from './helpers.ts';

/*
 * Stack: Data (infra/stacks/data-stack.ts).
 */

let w: SynthesizedWflo;

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('Stack: Data', () => {
  const t = () => w.templates.data;

  it('runs Aurora PostgreSQL Serverless v2: Data API, IAM auth, encrypted, port 5433, logs exported', () => {
    t().resourceCountIs('AWS::RDS::DBCluster', 1);
    t().hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EnableHttpEndpoint: true,
      EnableIAMDatabaseAuthentication: true,
      StorageEncrypted: true,
      KmsKeyId: Match.anyValue(),
      Port: DB_PORT,
      // the second step for production, not the first deploy (see 'Deploys that can fail and be retried')
      DeletionProtection: false,
      EnableCloudwatchLogsExports: ['postgresql'],
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
      BackupRetentionPeriod: 7,
    });
    t().hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' });
    t().hasResourceProperties('AWS::RDS::DBCluster', {
      DBClusterIdentifier: {
        'Fn::Join': ['', ['wflo-test-db-', Match.objectLike({ 'Fn::Select': Match.anyValue() })]],
      },
    });
    t().hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: {
        'Fn::Join': [
          '',
          [
            '/aws/rds/cluster/wflo-test-db-',
            Match.objectLike({ 'Fn::Select': Match.anyValue() }),
            '/postgresql',
          ],
        ],
      },
      RetentionInDays: 30,
    });
    t().hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
    });
  });

  it('applies the migrations at deploy time after the database exists', () => {
    const migrations = resourcesOfType(w.json.data, 'Custom::WfloMigrations');
    expect(migrations).toHaveLength(1);
    const resource = migrations[0]![1];
    expect(resource.Properties).toMatchObject({
      Database: 'wflo',
      MigrationsHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      ClusterArn: expect.anything(),
    });
    expect(resource.DependsOn).toEqual(expect.arrayContaining([logicalId(w.stacks.data.cluster)]));
  });

  it('keeps approvals in one DynamoDB table: encrypted with the data key, PITR, TTL, the two status indexes, no name', () => {
    t().resourceCountIs('AWS::DynamoDB::Table', 1);
    const index = (name: string, sortKey: string) => ({
      IndexName: name,
      KeySchema: [
        { AttributeName: 'status', KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    });
    t().hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: APPROVALS_TABLE.partitionKey, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: {
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(w.stacks.data.key), 'Arn'] },
      },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: APPROVALS_TABLE.ttlAttribute, Enabled: true },
      GlobalSecondaryIndexes: [
        index(APPROVALS_TABLE.byStatusCreated, 'createdAt'),
        index(APPROVALS_TABLE.byStatusExpiry, 'expiresAt'),
      ],
      TableName: Match.absent(),
    });
  });

  it('encrypts every data store', () => {
    t().resourceCountIs('AWS::S3::Bucket', 2);
    for (const [, bucket] of resourcesOfType(w.json.data, 'AWS::S3::Bucket')) {
      expect(bucket.Properties).toMatchObject({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LifecycleConfiguration: {
          Rules: expect.arrayContaining([expect.objectContaining({ Status: 'Enabled' })]),
        },
      });
    }
    t().hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'artifacts/' },
    });
    t().resourceCountIs('AWS::S3::BucketPolicy', 2);
    for (const [, policy] of resourcesOfType(w.json.data, 'AWS::S3::BucketPolicy')) {
      expect(JSON.stringify(policy.Properties)).toContain('"aws:SecureTransport":"false"');
    }
    t().hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      KmsKeyId: Match.anyValue(),
      UserGroupId: Match.anyValue(),
      SecurityGroupIds: Match.anyValue(),
    });
    t().hasResourceProperties('AWS::ElastiCache::User', {
      AuthenticationMode: { Type: 'iam' },
      AccessString: Match.stringLikeRegexp('^on '),
    });
    t().hasResourceProperties('AWS::ElastiCache::User', { UserName: 'default', AccessString: 'off -@all' });
    // MSK is off by default (variants.test.ts deploys it with kafka=true)
    t().resourceCountIs('AWS::MSK::ServerlessCluster', 0);
    expect(w.stacks.data.kafka).toBeUndefined();
    t().hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('opens Valkey only to the Lambda security group, and nothing to MSK by default', () => {
    const lambdaSg = logicalId(w.stacks.network.lambdaSecurityGroup);
    const ingress = resourcesOfType(w.json.data, 'AWS::EC2::SecurityGroupIngress').map(
      ([, r]) => r.Properties!,
    );
    const cacheAndKafka = ingress.filter((r) => r.FromPort === 6379 || r.FromPort === 9098);
    expect(cacheAndKafka.map((r) => r.FromPort)).toEqual([6379]);
    const egress = (
      w.json.network.Resources[lambdaSg]!.Properties as { SecurityGroupEgress: { FromPort: number }[] }
    ).SecurityGroupEgress;
    expect(egress.map((e) => e.FromPort).sort()).toEqual([443, 6379]);
    for (const rule of cacheAndKafka) expect(JSON.stringify(rule.SourceSecurityGroupId)).toContain(lambdaSg);
  });

  it('gives every log group in every stack a retention', () => {
    for (const key of STACK_KEYS) {
      for (const [id, lg] of resourcesOfType(w.json[key], 'AWS::Logs::LogGroup')) {
        expect([key, id, lg.Properties?.RetentionInDays]).toEqual([key, id, 30]);
      }
    }
  });

  it('matches its snapshot (asset hashes removed)', () => {
    expect(withoutAssetHashes(w.json.data)).toMatchSnapshot();
  });
});
