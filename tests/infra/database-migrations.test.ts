import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { handler, retryPolicy } from '../../functions/custom-resources/migrations.ts';
import {
  DatabaseMigrations,
  hashMigrations,
  MIGRATIONS_PATH,
} from '../../infra/constructs/database-migrations.ts';
import { REPO_ROOT } from '../../infra/constructs/wflo-function.ts';
import { cdkJsonContext } from './helpers.ts';

const rds_ = mockClient(RDSDataClient);
const PROPS = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
  ClusterArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:wflo-test-db',
  SecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo-test/aurora/admin-AbCdEf',
  Database: 'wflo',
  MigrationsHash: 'abc',
};

function event(RequestType: 'Create' | 'Update' | 'Delete'): CdkCustomResourceEvent {
  return {
    RequestType,
    ServiceToken: PROPS.ServiceToken,
    ResponseURL: 'https://example.com/response',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Wflo-test-Data/1',
    RequestId: 'r-1',
    LogicalResourceId: 'MigrationsResource',
    ResourceType: 'Custom::WfloMigrations',
    ResourceProperties: PROPS,
    ...(RequestType === 'Create'
      ? {}
      : { PhysicalResourceId: 'wflo-migrations:wflo', OldResourceProperties: PROPS }),
  } as CdkCustomResourceEvent;
}

function databaseAnswers(): void {
  rds_.on(BeginTransactionCommand).resolves({ transactionId: 'tx-1' });
  rds_.on(ExecuteStatementCommand).resolves({ records: [], columnMetadata: [] });
  rds_.on(CommitTransactionCommand).resolves({});
}

const executed = () => rds_.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input.sql ?? '');

describe('Handler: migrations custom resource', () => {
  beforeAll(() => {
    retryPolicy.delayMs = 1;
  });
  afterEach(() => rds_.reset());

  it.each(['Create', 'Update'] as const)('%s applies every migration through the Data API', async (type) => {
    databaseAnswers();

    const result = await handler(event(type));

    expect(result).toEqual({ PhysicalResourceId: 'wflo-migrations:wflo', Data: { MigrationsHash: 'abc' } });
    const first = rds_.commandCalls(ExecuteStatementCommand)[0]!.args[0].input;
    expect(first).toMatchObject({
      resourceArn: PROPS.ClusterArn,
      secretArn: PROPS.SecretArn,
      database: 'wflo',
    });
    expect(executed().some((s) => s.includes('CREATE TABLE "executions"'))).toBe(true);
    expect(rds_.commandCalls(CommitTransactionCommand)).toHaveLength(1);
  });

  it('Delete leaves the database alone', async () => {
    const result = await handler(event('Delete'));

    expect(result).toEqual({ PhysicalResourceId: 'wflo-migrations:wflo' });
    expect(rds_.calls()).toHaveLength(0);
  });

  it('waits for an auto-paused Aurora to resume, then migrates', async () => {
    const resuming = Object.assign(
      new Error('The Aurora DB instance wflo-test-db is resuming after being auto-paused'),
      {
        name: 'DatabaseResumingException',
      },
    );
    rds_.on(ExecuteStatementCommand).rejectsOnce(resuming).resolves({ records: [], columnMetadata: [] });
    rds_.on(BeginTransactionCommand).resolves({ transactionId: 'tx-1' });
    rds_.on(CommitTransactionCommand).resolves({});

    await handler(event('Create'));

    expect(executed().filter((s) => s.includes('CREATE SCHEMA IF NOT EXISTS "drizzle"'))).toHaveLength(2);
    expect(rds_.commandCalls(CommitTransactionCommand)).toHaveLength(1);
  });

  it('fails the deployment on a real SQL error, after rolling back', async () => {
    rds_.on(BeginTransactionCommand).resolves({ transactionId: 'tx-1' });
    rds_.on(ExecuteStatementCommand).callsFake((input: { sql?: string }) => {
      if (input.sql?.includes('CREATE TABLE "executions"')) {
        throw Object.assign(new Error('ERROR: permission denied for schema public'), {
          name: 'BadRequestException',
        });
      }
      return { records: [] };
    });
    rds_.on(RollbackTransactionCommand).resolves({});

    await expect(handler(event('Create'))).rejects.toThrow(/Failed query/);
    expect(rds_.commandCalls(RollbackTransactionCommand)).toHaveLength(1);
    expect(rds_.commandCalls(CommitTransactionCommand)).toHaveLength(0);
  });
});

describe('Construct: DatabaseMigrations (bundled)', () => {
  let outdir: string;
  let bundleDir: string;

  beforeAll(() => {
    // Inside the repository (under node_modules/.cache) so the bundle resolves the runtime-provided AWS SDK from
    // node_modules, as it would from the Lambda runtime.
    const parent = join(REPO_ROOT, 'node_modules', '.cache', 'wflo-infra-tests');
    mkdirSync(parent, { recursive: true });
    outdir = mkdtempSync(join(parent, 'migrations-'));
    const app = new App({ outdir, context: cdkJsonContext() });
    const stack = new Stack(app, 'MigrationsTest');
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const cluster = new rds.DatabaseCluster(stack, 'Db', {
      vpcSubnets: { subnetGroupName: 'db' },
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_16_13,
      }),
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      vpc,
      enableDataApi: true,
    });
    const migrations = new DatabaseMigrations(stack, 'Migrations', {
      cluster,
      databaseName: 'wflo',
      logRetention: logs.RetentionDays.ONE_WEEK,
      logRemovalPolicy: RemovalPolicy.DESTROY,
    });
    app.synth();
    const code = migrations.handler.function.node.findChild('Code') as unknown as { assetPath: string };
    bundleDir = join(outdir, code.assetPath);
  }, 120_000);
  afterAll(() => {
    rds_.reset();
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  it('bundles the handler with the migrations folder next to it', () => {
    expect(readdirSync(bundleDir).sort()).toEqual(['index.mjs', 'migrations']);
    expect(readdirSync(join(bundleDir, 'migrations')).sort()).toEqual(
      readdirSync(join(REPO_ROOT, MIGRATIONS_PATH)).sort(),
    );
  });

  it('applies the bundled migrations when the bundle itself runs', async () => {
    databaseAnswers();
    const bundle = (await import(pathToFileURL(join(bundleDir, 'index.mjs')).href)) as {
      handler: (e: CdkCustomResourceEvent) => Promise<CdkCustomResourceResponse>;
    };

    await bundle.handler(event('Create'));

    expect(executed().some((s) => s.includes('CREATE TABLE "steps"'))).toBe(true);
    expect(executed().at(-1)).toMatch(/insert into "drizzle"\."__drizzle_migrations"/);
  });

  it('re-runs when a migration file changes (its hash is a resource property)', () => {
    expect(hashMigrations()).toMatch(/^[0-9a-f]{64}$/);
    expect(hashMigrations()).toBe(hashMigrations());
  });
});
