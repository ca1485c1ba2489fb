import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type CfnElement, CustomResource, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { REPO_ROOT, WfloFunction } from './wflo-function.ts';

/** The project's generated SQL migrations (drizzle-kit), relative to the repository root. */
export const MIGRATIONS_PATH = 'functions/shared/db/migrations';

/** A stable hash of every file under the migrations folder, so a new migration re-runs the resource. */
export function hashMigrations(dir = join(REPO_ROOT, MIGRATIONS_PATH)): string {
  const hash = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(relative(dir, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  walk(dir);
  return hash.digest('hex');
}

export interface DatabaseMigrationsProps {
  /** Aurora cluster with the Data API enabled. */
  readonly cluster: rds.DatabaseCluster;
  readonly databaseName: string;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/**
 * Applies `functions/shared/db/migrations` to Aurora at deploy time, through the RDS Data API (so the function
 * needs no VPC): a Lambda (functions/custom-resources/migrations.ts, bundled with the migrations folder copied next
 * to it) behind the CDK Provider framework. It runs on create and whenever a migration file changes.
 */
export class DatabaseMigrations extends Construct {
  readonly handler: WfloFunction;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: DatabaseMigrationsProps) {
    super(scope, id);
    this.handler = new WfloFunction(this, 'Handler', {
      entry: 'functions/custom-resources/migrations.ts',
      description: 'wflo: applies the SQL migrations to Aurora through the Data API (deploy time)',
      memoryMb: 512,
      timeoutSeconds: 600,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: (inputDir: string, outputDir: string) => [
          `cp -R "${inputDir}/${MIGRATIONS_PATH}" "${outputDir}/migrations"`,
        ],
      },
    });
    props.cluster.grantDataApiAccess(this.handler.role);

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler.function,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', {
        retention: props.logRetention,
        removalPolicy: props.logRemovalPolicy,
      }),
    });
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        'The CDK Provider framework creates its own short-lived dispatcher function with this role; it only writes ' +
        'its logs and invokes the migration handler, and the framework does not expose the role for replacement.',
    });
    const handlerLogicalId = Stack.of(this).getLogicalId(
      this.handler.function.node.defaultChild as CfnElement,
    );
    Validations.of(provider).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${handlerLogicalId}.Arn>:*]`,
      reason:
        'The Provider framework invokes the migration handler by qualified ARN (version/alias); the wildcard is limited ' +
        'to qualifiers of that one function.',
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::WfloMigrations',
      properties: {
        ClusterArn: props.cluster.clusterArn,
        SecretArn: props.cluster.secret?.secretArn,
        Database: props.databaseName,
        MigrationsHash: hashMigrations(),
      },
    });
    this.resource.node.addDependency(props.cluster);
  }
}
