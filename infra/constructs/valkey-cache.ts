import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ENV } from '../../functions/shared/contracts/env.ts';
import type { WfloFunction } from './wflo-function.ts';

export interface ValkeyCacheProps {
  /** Cache and user-name prefix, lowercase (e.g. `wflo-dev`). */
  readonly name: string;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Security groups allowed to connect on 6379. */
  readonly clientSecurityGroups: ec2.ISecurityGroup[];
  readonly encryptionKey: kms.IKey;
  /** Upper limit of stored data (GB). */
  readonly maxDataGb: number;
  /** Upper limit of ElastiCache Processing Units per second. */
  readonly maxEcpuPerSecond: number;
  /** Days of daily snapshots to keep. @default 1 */
  readonly snapshotRetentionDays?: number;
}

/**
 * ElastiCache Serverless (Valkey 8) for the LLM response cache and locks: TLS always on, encrypted with the
 * data key, and RBAC with IAM authentication (no static password): the only enabled user is `<name>-app`,
 * which a Lambda authenticates as with a SigV4 token once granted `elasticache:Connect` through {@link bind}.
 * The mandatory `default` user is disabled.
 */
export class ValkeyCache extends Construct {
  readonly cache: elasticache.CfnServerlessCache;
  readonly securityGroup: ec2.SecurityGroup;
  /** The IAM-authenticated user (user id = user name). */
  readonly userId: string;
  readonly userArn: string;

  constructor(scope: Construct, id: string, props: ValkeyCacheProps) {
    super(scope, id);
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(props.name)) {
      throw new Error(
        `${this.node.path}: name '${props.name}' must be lowercase letters, digits, hyphens (<= 31)`,
      );
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: props.vpc,
      description: 'wflo Valkey: TLS 6379 from the activity Lambdas only',
      allowAllOutbound: false,
    });
    for (const client of props.clientSecurityGroups) {
      this.securityGroup.addIngressRule(client, ec2.Port.tcp(6379), 'Valkey clients');
    }

    this.userId = `${props.name}-app`;
    const appUser = new elasticache.CfnUser(this, 'AppUser', {
      engine: 'valkey',
      userId: this.userId,
      userName: this.userId,
      // Everything but administrative commands (CONFIG, DEBUG, SHUTDOWN...), on every key.
      accessString: 'on ~* &* +@all -@admin',
      authenticationMode: { Type: 'iam' },
    });
    const defaultUser = new elasticache.CfnUser(this, 'DefaultUser', {
      engine: 'valkey',
      userId: `${props.name}-default`,
      userName: 'default',
      accessString: 'off -@all',
      authenticationMode: { Type: 'no-password-required' },
    });
    const userGroup = new elasticache.CfnUserGroup(this, 'Users', {
      engine: 'valkey',
      userGroupId: `${props.name}-users`,
      userIds: [appUser.userId, defaultUser.userId],
    });
    userGroup.node.addDependency(appUser);
    userGroup.node.addDependency(defaultUser);
    this.userArn = appUser.attrArn;

    const subnetIds = props.vpc.selectSubnets(props.subnets).subnetIds;
    this.cache = new elasticache.CfnServerlessCache(this, 'Cache', {
      serverlessCacheName: props.name,
      description: 'wflo LLM response cache and locks',
      engine: 'valkey',
      majorEngineVersion: '8',
      kmsKeyId: props.encryptionKey.keyArn,
      securityGroupIds: [this.securityGroup.securityGroupId],
      subnetIds,
      userGroupId: userGroup.userGroupId,
      snapshotRetentionLimit: props.snapshotRetentionDays ?? 1,
      cacheUsageLimits: {
        dataStorage: { maximum: props.maxDataGb, unit: 'GB' },
        ecpuPerSecond: { maximum: props.maxEcpuPerSecond },
      },
    });
    this.cache.node.addDependency(userGroup);
    // ElastiCache needs to use the key on the account's behalf.
    props.encryptionKey.grant(
      new iam.ServicePrincipal('elasticache.amazonaws.com'),
      'kms:Decrypt',
      'kms:GenerateDataKey*',
      'kms:DescribeKey',
      'kms:CreateGrant',
    );
  }

  /** The cache's name (needed to sign the IAM auth token). */
  get cacheName(): string {
    return this.cache.serverlessCacheName;
  }

  /** Grants `elasticache:Connect` on exactly this cache and its IAM user. */
  grantConnect(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['elasticache:Connect'],
      resourceArns: [this.cache.attrArn, this.userArn],
    });
  }

  /**
   * Lets a function use the cache: sets VALKEY_ENDPOINT, VALKEY_PORT, VALKEY_TLS=true, VALKEY_AUTH=iam,
   * VALKEY_USER and VALKEY_CACHE_NAME, and grants connect. The function must run in the VPC.
   */
  bind(fn: WfloFunction): void {
    if (!fn.function.isBoundToVpc) {
      throw new Error(`${fn.node.path}: a function that uses Valkey must run in the VPC`);
    }
    fn.addEnvironment(ENV.VALKEY_ENDPOINT, this.cache.attrEndpointAddress)
      .addEnvironment(ENV.VALKEY_PORT, this.cache.attrEndpointPort)
      .addEnvironment(ENV.VALKEY_TLS, 'true')
      .addEnvironment(ENV.VALKEY_AUTH, 'iam')
      .addEnvironment(ENV.VALKEY_USER, this.userId)
      .addEnvironment(ENV.VALKEY_CACHE_NAME, this.cacheName);
    this.grantConnect(fn.role);
  }
}
