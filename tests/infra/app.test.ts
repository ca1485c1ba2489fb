import { rmSync } from 'node:fs';
import { Stack, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { ACTIVITIES, findVariables } from '../../infra/activities.ts';
import { listWorkflowFiles } from '../../infra/constructs/asl.ts';
import { SANDBOX_CONTAINER, SANDBOX_USER } from '../../infra/constructs/sandbox-task.ts';
import { NODE_RUNTIME } from '../../infra/constructs/wflo-function.ts';
import { type ActivityNeed, needsOf } from '../../infra/stacks/activity-permissions.ts';
import { DB_PORT } from '../../infra/stacks/data-stack.ts';
import { TIERS } from '../../infra/stacks/monitoring-alarms.ts';
import { deployedEnvironment, FAKE_CLUSTER_ARN, FAKE_SECRET_ARN } from './deployed-env.ts';
import {
  acknowledgements,
  actionsOf,
  type CfnTemplate,
  logicalId,
  nagFindings,
  type PolicyStatementJson,
  rawNagFindings,
  resourcesOf,
  resourcesOfType,
  STACK_KEYS,
  type SynthesizedWflo,
  statementsOfRole,
  synthWflo,
  testApp,
  withoutAssetHashes,
} from './helpers.ts';

let w: SynthesizedWflo;
const workflows = listWorkflowFiles();

beforeAll(() => {
  w = synthWflo({ envName: 'test', alarmEmail: 'ops@example.com' });
}, 180_000);
afterAll(() => w?.cleanup());

/** Every IAM statement in every template, with where it came from. */
function allStatements(): { stack: string; policy: string; statement: PolicyStatementJson }[] {
  const out: { stack: string; policy: string; statement: PolicyStatementJson }[] = [];
  for (const key of STACK_KEYS) {
    for (const [id, r] of Object.entries(w.json[key].Resources)) {
      const docs: { Statement: PolicyStatementJson[] }[] = [];
      if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
        docs.push(r.Properties?.PolicyDocument as { Statement: PolicyStatementJson[] });
      }
      if (r.Type === 'AWS::IAM::Role') {
        for (const p of (r.Properties?.Policies as {
          PolicyDocument: { Statement: PolicyStatementJson[] };
        }[]) ?? []) {
          docs.push(p.PolicyDocument);
        }
      }
      for (const d of docs) for (const s of d.Statement) out.push({ stack: key, policy: id, statement: s });
    }
  }
  return out;
}

const BASE_ACTIVITY_ACTIONS = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTelemetryRecords',
  'xray:PutTraceSegments',
  'rds-data:BatchExecuteStatement',
  'rds-data:BeginTransaction',
  'rds-data:CommitTransaction',
  'rds-data:ExecuteStatement',
  'rds-data:RollbackTransaction',
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
];
const NEED_ACTIONS: Record<ActivityNeed, string[]> = {
  cache: ['elasticache:Connect'],
  'artifacts-read': ['s3:GetObject', 's3:ListBucket'],
  'artifacts-write': ['s3:PutObject'],
  llm: [], // the scripted provider needs no key and no Bedrock (see variants.test.ts)
};
/** Actions that AWS offers only on "*" and that every function's role carries. */
const STAR_ONLY_ACTIONS = new Set(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);

describe('App: wflo', () => {
  it('synthesizes the five stacks of one environment', () => {
    expect(STACK_KEYS.map((k) => w.stacks[k].stackName)).toEqual([
      'Wflo-test-Network',
      'Wflo-test-Data',
      'Wflo-test-Orchestration',
      'Wflo-test-Api',
      'Wflo-test-Monitoring',
    ]);
  });

  it('grants iam:PassRole nowhere but on the sandbox roles', () => {
    const passRole = allStatements().filter((s) =>
      actionsOf(s.statement).some((a) => /^iam:(PassRole|\*)$|^\*$/.test(a)),
    );
    const sandbox = w.stacks.orchestration.sandbox;
    const allowed = new Set([logicalId(sandbox.taskRole), logicalId(sandbox.executionRole)]);
    for (const { statement } of passRole) {
      for (const r of resourcesOf(statement)) {
        expect(r).toMatchObject({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
        expect(allowed.has((r as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!)).toBe(true);
      }
    }
    // The shipped workflows run no ECS task, so nothing may pass a role at all (see workflow-state-machine.test.ts).
    const usesEcs = [...w.stacks.orchestration.workflows.values()].some((wf) => wf.integrations.ecsRunTask);
    if (!usesEcs) expect(passRole).toEqual([]);
  });

  it('uses no wildcard action anywhere', () => {
    const wild = allStatements().filter((s) =>
      actionsOf(s.statement).some((a) => a === '*' || /:\*$/.test(a)),
    );
    expect(wild.map((s) => `${s.stack}/${s.policy}: ${actionsOf(s.statement).join(',')}`)).toEqual([]);
  });
});

describe('Construct: ActivityFunction', () => {
  const t = (): CfnTemplate => w.json.orchestration;

  it('deploys one function per ACTIVITIES entry with the house defaults', () => {
    const functions = resourcesOfType(t(), 'AWS::Lambda::Function');
    expect(functions).toHaveLength(ACTIVITIES.length + 2); // + the status projector and the reconciler
    for (const activity of ACTIVITIES) {
      w.templates.orchestration.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: `wflo-test-${activity.id}`,
        Runtime: NODE_RUNTIME.name,
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: activity.memoryMb,
        Timeout: activity.timeoutSeconds,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: Match.objectLike({ LogFormat: 'JSON', LogGroup: Match.anyValue() }),
        VpcConfig: Match.objectLike({ SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() }),
        Environment: {
          Variables: Match.objectLike({
            NODE_OPTIONS: Match.absent(),
            POWERTOOLS_SERVICE_NAME: 'wflo',
            POWERTOOLS_METRICS_NAMESPACE: 'wflo',
            DB_NAME: 'wflo',
            DB_CLUSTER_ARN: Match.anyValue(),
            DB_SECRET_ARN: Match.anyValue(),
            LLM_PROVIDER: 'scripted',
          }),
        },
      });
    }
  });

  it.each(ACTIVITIES.map((a) => [a.id, a] as const))(
    '%s: its role may do exactly what the activity needs, on exact resources',
    (id) => {
      const fn = w.stacks.orchestration.activities.get(id)!;
      const statements = statementsOfRole(t(), logicalId(fn.role));
      const needs = needsOf(id);
      const expected = new Set([...BASE_ACTIVITY_ACTIONS, ...needs.flatMap((n) => NEED_ACTIONS[n])]);
      expect(new Set(statements.flatMap(actionsOf))).toEqual(expected);

      for (const s of statements) {
        const text = JSON.stringify(s.Resource);
        if (s.Resource === '*') {
          expect(actionsOf(s).every((a) => STAR_ONLY_ACTIONS.has(a))).toBe(true);
          continue;
        }
        // Only the artifacts prefix may contain a wildcard; every other resource is one named ARN.
        if (text.includes('*')) expect(text).toMatch(/\/executions\/\*"?\]?\]?\}?$/);
      }

      const data = w.stacks.data;
      const resourcesFor = (action: string) =>
        JSON.stringify(statements.filter((s) => actionsOf(s).includes(action)).map((s) => s.Resource));
      expect(resourcesFor('rds-data:ExecuteStatement')).toContain(logicalId(data.cluster));
      if (needs.includes('cache')) {
        const cache = resourcesFor('elasticache:Connect');
        expect(cache).toContain(logicalId(data.cache.cache));
        expect(cache).toContain('CacheAppUser');
      }
    },
  );

  it('sets the Valkey environment only where the activity needs it, and no table names', () => {
    for (const activity of ACTIVITIES) {
      const env = w.stacks.orchestration.activities.get(activity.id)!;
      const vars = (
        t().Resources[logicalId(env.function)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
      const needs = needsOf(activity.id);
      expect('VALKEY_ENDPOINT' in vars).toBe(needs.includes('cache'));
      if (needs.includes('cache')) expect(vars).toMatchObject({ VALKEY_TLS: 'true', VALKEY_AUTH: 'iam' });
      expect(Object.keys(vars).filter((k) => k.endsWith('_TABLE') || k.startsWith('KAFKA_'))).toEqual([]);
    }
  });
});

describe('Construct: WorkflowStateMachine', () => {
  it('deploys one Standard state machine per statemachines/*.asl.json', () => {
    expect(workflows.length).toBeGreaterThan(0);
    w.templates.orchestration.resourceCountIs('AWS::StepFunctions::StateMachine', workflows.length);
    for (const wf of workflows) {
      w.templates.orchestration.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `wflo-test-${wf.name}`,
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        // envName=test is not a dev environment: ERROR by default, execution data encrypted with the stack's key
        LoggingConfiguration: Match.objectLike({ Level: 'ERROR', IncludeExecutionData: true }),
        EncryptionConfiguration: {
          Type: 'CUSTOMER_MANAGED_KMS_KEY',
          KmsKeyId: { 'Fn::GetAtt': [logicalId(w.stacks.orchestration.key), 'Arn'] },
          KmsDataKeyReusePeriodSeconds: 300,
        },
      });
      w.templates.orchestration.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: {
          'Fn::Join': [
            '',
            [
              `/aws/vendedlogs/states/wflo-test-${wf.name}-`,
              Match.objectLike({ 'Fn::Select': Match.anyValue() }),
            ],
          ],
        },
        KmsKeyId: { 'Fn::GetAtt': [logicalId(w.stacks.orchestration.key), 'Arn'] },
        RetentionInDays: 30,
      });
    }
  });

  it.each(workflows.map((wf) => [wf.name, wf] as const))(
    '%s: substitutes exactly its variables and may invoke exactly the functions it names',
    (name, wf) => {
      const sm = w.stacks.orchestration.workflows.get(name)!;
      const props = w.json.orchestration.Resources[logicalId(sm.stateMachine)]!.Properties as {
        DefinitionString: string;
        DefinitionSubstitutions: Record<string, unknown>;
        RoleArn: { 'Fn::GetAtt': [string, string] };
      };
      expect(props.DefinitionString).toBe(wf.text);
      const used = findVariables(wf.text);
      expect(Object.keys(props.DefinitionSubstitutions).sort()).toEqual(used);

      const statements = statementsOfRole(w.json.orchestration, props.RoleArn['Fn::GetAtt'][0]);
      const invoked = statements
        .filter((s) => actionsOf(s).includes('lambda:InvokeFunction'))
        .flatMap(resourcesOf)
        .map((r) => (r as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]);
      const expected = ACTIVITIES.filter((a) => used.includes(a.variable)).map((a) =>
        logicalId(w.stacks.orchestration.activities.get(a.id)!.function),
      );
      expect(invoked.sort()).toEqual(expected.sort());
      expect(
        statements.flatMap(actionsOf).filter((a) => a.startsWith('ecs:') || a === 'iam:PassRole'),
      ).toEqual(sm.integrations.ecsRunTask ? expect.arrayContaining(['ecs:RunTask', 'iam:PassRole']) : []);
    },
  );
});

describe('Status projector and reconciler', () => {
  it('receives the terminal status changes of every wflo state machine through a queue with a dead-letter queue', () => {
    // GIVEN the orchestration stack's rules
    const o = w.stacks.orchestration;
    const rules = resourcesOfType(w.json.orchestration, 'AWS::Events::Rule').map(
      ([, r]) =>
        r.Properties as {
          EventPattern?: { source: string[]; detail: { status: string[]; stateMachineArn: unknown[] } };
          ScheduleExpression?: string;
          Targets: Record<string, unknown>[];
        },
    );
    const rule = rules.find((r) => r.EventPattern);

    // THEN the status-change rule sends to the queue, which hands failures to the DLQ after five deliveries
    expect(rules).toHaveLength(2);
    expect(rule!.EventPattern!.source).toEqual(['aws.states']);
    expect(rule!.EventPattern!.detail.status.sort()).toEqual(['ABORTED', 'FAILED', 'SUCCEEDED', 'TIMED_OUT']);
    expect(rule!.EventPattern!.detail.stateMachineArn).toEqual(
      expect.arrayContaining([...o.workflows.values()].map((wf) => ({ Ref: logicalId(wf.stateMachine) }))),
    );
    expect(rule!.EventPattern!.detail.stateMachineArn).toHaveLength(workflows.length);
    expect(rule!.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalId(o.statusChanges), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(o.projectorDeadLetters), 'Arn'] } },
        RetryPolicy: expect.objectContaining({ MaximumRetryAttempts: 8 }),
      }),
    ]);
    w.templates.orchestration.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(o.projectorDeadLetters), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    w.templates.orchestration.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(o.projector.function) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(o.statusChanges), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('runs the reconciler every five minutes, without retries', () => {
    const o = w.stacks.orchestration;
    w.templates.orchestration.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(o.reconciler.function), 'Arn'] } })],
    });
    w.templates.orchestration.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(o.reconciler.function) },
      MaximumRetryAttempts: 0,
    });
  });

  it.each([
    ['projector', 'states:GetExecutionHistory'],
    ['reconciler', 'states:DescribeExecution'],
  ] as const)('lets the %s use the store and only %s on wflo executions', (which, stateAction) => {
    // GIVEN the role's statements
    const fn = which === 'projector' ? w.stacks.orchestration.projector : w.stacks.orchestration.reconciler;
    const statements = statementsOfRole(w.json.orchestration, logicalId(fn.role));
    const queueActions =
      which === 'projector'
        ? [
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:ReceiveMessage',
          ]
        : [];

    // THEN nothing else is allowed, and the Step Functions action is scoped to wflo executions
    expect(new Set(statements.flatMap(actionsOf))).toEqual(
      new Set([...BASE_ACTIVITY_ACTIONS, ...queueActions, stateAction, 'kms:Decrypt']),
    );
    // Execution data is encrypted with the workflow key: decrypting is limited to it and to wflo state machines.
    expect(statements.filter((s) => actionsOf(s).includes('kms:Decrypt'))).toEqual([
      expect.objectContaining({
        Resource: { 'Fn::GetAtt': [logicalId(w.stacks.orchestration.key), 'Arn'] },
        Condition: {
          StringEquals: {
            'kms:EncryptionContext:aws:states:stateMachineArn': [
              ...w.stacks.orchestration.workflows.values(),
            ].map((wf) => ({ Ref: logicalId(wf.stateMachine) })),
          },
        },
      }),
    ]);
    const executions = statements
      .filter((s) => actionsOf(s).some((a) => a.startsWith('states:')))
      .flatMap((s) => {
        expect(actionsOf(s)).toEqual([stateAction]);
        return resourcesOf(s);
      })
      .map((r) => JSON.stringify(r));
    expect(executions).toHaveLength(workflows.length);
    for (const r of executions) expect(r).toMatch(/:execution:wflo-[a-z0-9-]+-[a-z0-9-]+:\*/);
  });
});

describe('Construct: SandboxTask', () => {
  it('is hardened: read-only root, /tmp volume, no capabilities, non-root, no environment, ARM64', () => {
    w.templates.orchestration.resourceCountIs('AWS::ECS::TaskDefinition', 1);
    w.templates.orchestration.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Volumes: [{ Name: 'tmp' }],
      ContainerDefinitions: [
        Match.objectLike({
          Name: SANDBOX_CONTAINER,
          ReadonlyRootFilesystem: true,
          User: SANDBOX_USER,
          Privileged: false,
          LinuxParameters: { Capabilities: { Drop: ['ALL'] }, InitProcessEnabled: true },
          MountPoints: [{ ContainerPath: '/tmp', SourceVolume: 'tmp', ReadOnly: false }],
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          Environment: Match.absent(),
          Secrets: Match.absent(),
        }),
      ],
    });
  });

  it('gives the task role no permissions at all', () => {
    const role = logicalId(w.stacks.orchestration.sandbox.taskRole);
    expect(statementsOfRole(w.json.orchestration, role)).toEqual([]);
    expect(w.json.orchestration.Resources[role]!.Properties?.ManagedPolicyArns).toBeUndefined();
  });

  it('runs on a cluster with Container Insights', () => {
    w.templates.orchestration.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });
});

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

  it('encrypts every data store', () => {
    // Approvals and idempotency records live in Aurora: no DynamoDB table is deployed
    t().resourceCountIs('AWS::DynamoDB::Table', 0);
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

describe('Stack: Api', () => {
  const t = () => w.templates.api;

  it('authorizes every method with IAM and validates requests', () => {
    const methods = resourcesOfType(w.json.api, 'AWS::ApiGateway::Method');
    expect(methods.length).toBe(4);
    for (const [, m] of methods) {
      expect(m.Properties).toMatchObject({
        AuthorizationType: 'AWS_IAM',
        RequestValidatorId: expect.anything(),
      });
    }
    t().hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestModels: { 'application/json': Match.anyValue() },
      RequestValidatorId: Match.anyValue(),
    });
    t().hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
    t().resourceCountIs('AWS::ApiGateway::GatewayResponse', 2);
  });

  it('logs access as JSON, throttles and traces the stage', () => {
    t().hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId"') },
      MethodSettings: [
        Match.objectLike({
          LoggingLevel: 'ERROR',
          MetricsEnabled: true,
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        }),
      ],
    });
  });

  it('lets the API start exactly the deployed state machines, encrypting their input with the workflow key', () => {
    const statements = statementsOfRole(w.json.api, logicalId(w.stacks.api.handler.role));
    const start = statements.filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(start).toHaveLength(1);
    expect(resourcesOf(start[0]!)).toHaveLength(workflows.length);
    // No other Step Functions action: the API only starts executions (the projector records how they end)
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('states:'))).toEqual([
      'states:StartExecution',
    ]);
    const star = statements.filter((s) => s.Resource === '*').flatMap(actionsOf);
    expect(star.sort()).toEqual([...STAR_ONLY_ACTIONS].sort());
    const kmsStatements = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(kmsStatements).toHaveLength(1);
    expect(actionsOf(kmsStatements[0]!).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(JSON.stringify(kmsStatements[0]!.Condition)).toContain(
      'kms:EncryptionContext:aws:states:stateMachineArn',
    );
    const env = (
      w.json.api.Resources[logicalId(w.stacks.api.handler.function)]!.Properties as {
        Environment: { Variables: Record<string, unknown> };
      }
    ).Environment.Variables;
    expect(env).toMatchObject({ DB_NAME: 'wflo' });
    expect(env.APPROVALS_TABLE).toBeUndefined();
    expect(JSON.stringify(env.WORKFLOW_STATE_MACHINES)).toContain(
      workflows.map((wf) => `\\"${wf.name}\\":`)[0],
    );
  });
});

describe('Stack: Monitoring', () => {
  const t = () => w.templates.monitoring;

  it('alarms on every workflow and notifies through one composite per source and tier', () => {
    const alarms = resourcesOfType(w.json.monitoring, 'AWS::CloudWatch::Alarm').map(([, a]) =>
      JSON.stringify(a),
    );
    for (const wf of workflows) {
      for (const [metric, tier] of [
        ['ExecutionsFailed', 'Critical'],
        ['ExecutionsTimedOut', 'Critical'],
        ['ExecutionThrottled', 'Warning'],
        ['ExecutionsAborted', 'Warning'],
      ]) {
        const matching = alarms.filter(
          (a) =>
            a.includes(`"AlarmName":"wflo-test-Workflow-${wf.name}-`) &&
            a.includes(`-${tier}","`) &&
            a.includes(`"MetricName":"${metric}"`),
        );
        expect([wf.name, metric, matching.length]).toEqual([wf.name, metric, 1]);
      }
      for (const tier of TIERS) {
        t().hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
          AlarmName: `wflo-test-Workflow-${wf.name}-${tier}`,
          AlarmActions: [{ Ref: logicalId(w.stacks.monitoring.topics[tier]) }],
        });
      }
    }
    for (const a of alarms) expect(a).not.toContain('"AlarmActions"');
  });

  it('reads the Powertools metrics of namespace wflo and has one dashboard', () => {
    const text = JSON.stringify(w.json.monitoring);
    for (const name of ['CostMicros', 'BudgetExceeded', 'CacheHit', 'CacheMiss', 'ExecutionsReconciled'])
      expect(text).toContain(name);
    t().hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ Namespace: 'wflo', MetricName: 'CostMicros' }),
          }),
        }),
      ]),
    });
    t().resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('notifies the alarm email through encrypted, TLS-only topics, one per tier', () => {
    t().resourceCountIs('AWS::SNS::Topic', TIERS.length);
    t().hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    t().resourceCountIs('AWS::SNS::Subscription', TIERS.length);
    t().hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t().hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('Deploys that can fail and be retried', () => {
  /** Every resource of the environment's five stacks, with its stack. */
  const everything = () =>
    STACK_KEYS.flatMap((k) => Object.entries(w.json[k].Resources).map(([id, r]) => ({ stack: k, id, r })));

  it('GIVEN a non-dev environment WHEN synthesized THEN data stores and logs are RETAIN_ON_UPDATE_OR_DELETE, never plain RETAIN', () => {
    const retained = ['AWS::Logs::LogGroup', 'AWS::S3::Bucket', 'AWS::KMS::Key'];
    for (const { stack, id, r } of everything()) {
      // Plain Retain would keep resources through the rollback of a failed first create
      expect([stack, id, r.DeletionPolicy]).not.toEqual([stack, id, 'Retain']);
      if (
        retained.includes(r.Type) &&
        !id.startsWith('S3PrefixListLogs') &&
        !id.startsWith('KafkaBootstrapBrokersLogs')
      ) {
        expect([stack, id, r.DeletionPolicy, r.UpdateReplacePolicy]).toEqual([
          stack,
          id,
          'RetainExceptOnCreate',
          'Retain',
        ]);
      }
    }
    w.templates.data.hasResource('AWS::RDS::DBCluster', {
      DeletionPolicy: 'Snapshot',
      UpdateReplacePolicy: 'Snapshot',
    });
  });

  it('GIVEN the defaults WHEN synthesized THEN no deletion protection and no termination protection block a rollback', () => {
    w.templates.data.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: false });
    for (const key of STACK_KEYS) expect([key, w.stacks[key].terminationProtection]).toEqual([key, false]);
  });

  it('GIVEN the defaults WHEN synthesized THEN no physical name would block a retry after a rollback', () => {
    for (const { stack, id, r } of everything()) {
      const p = r.Properties ?? {};
      // SQS keeps a deleted queue's name for 60 s; a deleted secret keeps its name for its recovery window
      if (r.Type === 'AWS::SQS::Queue') expect([stack, id, p.QueueName]).toEqual([stack, id, undefined]);
      if (r.Type === 'AWS::SecretsManager::Secret')
        expect([stack, id, p.Name]).toEqual([stack, id, undefined]);
      // A named log group ends with the stack's id, so one retained by a destroyed environment does not collide
      if (r.Type === 'AWS::Logs::LogGroup' && p.LogGroupName !== undefined) {
        expect([stack, id, JSON.stringify(p.LogGroupName)]).toEqual([
          stack,
          id,
          expect.stringContaining('AWS::StackId'),
        ]);
      }
    }
    expect(everything().filter(({ r }) => r.Type === 'AWS::DynamoDB::Table')).toEqual([]);
  });

  it('GIVEN two environments in one account WHEN synthesized THEN neither owns the API Gateway CloudWatch role', () => {
    for (const key of STACK_KEYS) {
      expect([key, resourcesOfType(w.json[key], 'AWS::ApiGateway::Account')]).toEqual([key, []]);
    }
    expect(w.stacks.apiGatewayAccount).toBeUndefined();
    const apiRoles = resourcesOfType(w.json.api, 'AWS::IAM::Role').filter(([, r]) =>
      JSON.stringify(r.Properties?.AssumeRolePolicyDocument).includes('apigateway.amazonaws.com'),
    );
    expect(apiRoles).toEqual([]);
    // ... and the stage still writes access logs (through the account-level role, see ApiGatewayAccountStack)
    w.templates.api.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
    });
    const stage = resourcesOfType(w.json.api, 'AWS::ApiGateway::Stage')[0]![1];
    expect(JSON.stringify(stage.Properties?.AccessLogSetting)).toContain(logicalId(w.stacks.api.accessLogs));
  });
});

describe('cdk-nag: AwsSolutions', () => {
  it('reports no unacknowledged finding on the whole app', () => {
    const findings = nagFindings(w.app).map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it('acknowledges only real findings, each with a reason a reviewer can check', () => {
    const raw = rawNagFindings(w.app);
    const acks = acknowledgements(w.app).filter((a) => a.id.startsWith('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // Not stale: the acknowledged rule really fires on this construct (or inside it).
      const covers = raw.some(
        (v) =>
          v.ruleName === ack.id &&
          v.violatingResources.some(
            (r) => r.constructPath === ack.path || (r.constructPath ?? '').startsWith(`${ack.path}/`),
          ),
      );
      expect({ ...ack, covers }).toMatchObject({ covers: true });
      // A reason names why the finding is acceptable here, not that it is suppressed.
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(80);
      expect(ack.reason).not.toMatch(/\b(todo|tbd|fixme|suppress(ed)?|ignore[d]?|not needed|n\/a)\b/i);
    }
  });

  it('does flag a non-compliant resource (the pack is really running)', () => {
    const { app, outdir } = testApp();
    try {
      const stack = new Stack(app, 'NagControl');
      new s3.Bucket(stack, 'Plain', { encryption: s3.BucketEncryption.S3_MANAGED });
      const rules = nagFindings(app).map((v) => v.ruleName);
      expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
      // Registered the way infra/app.ts registers it, a finding fails synth.
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('Config: the environment the constructs set', () => {
  it('is accepted by loadConfig() and selects the Aurora Data API store', () => {
    const { orchestration, api } = w.stacks;
    for (const fn of [
      ...orchestration.activities.values(),
      orchestration.projector,
      orchestration.reconciler,
      api.handler,
    ]) {
      const stack = fn.function.stack === api ? w.json.api : w.json.orchestration;
      const vars = (
        stack.Resources[logicalId(fn.function)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
      const config = loadConfig(deployedEnvironment(vars));
      expect(config.store).toEqual({
        kind: 'data-api',
        resourceArn: FAKE_CLUSTER_ARN,
        secretArn: FAKE_SECRET_ARN,
        database: 'wflo',
      });
      expect(config.llm.defaultProvider).toBe('scripted');
      expect(config.defaultBudgetMicros).toBe(5_000_000);
      if (fn === w.stacks.api.handler || fn === orchestration.reconciler) {
        expect(Object.keys(config.stateMachines).sort()).toEqual(workflows.map((wf) => wf.name).sort());
      }
    }
  });
});
