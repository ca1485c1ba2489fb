import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITIES, activity } from '../../infra/activities.ts';
import { REPO_ROOT, type WfloFunction } from '../../infra/constructs/wflo-function.ts';
import { sharedWflo } from './app-fixture.ts';
import {
  actionsOf,
  type CfnTemplate,
  logicalId,
  type StackKey,
  type SynthesizedWflo,
  statementsOfRole,
} from './helpers.ts';

/**
 * Every IAM action and environment variable a function is given must have a caller in its code. The allow-list
 * below names, per function, each action it may be granted and the code that needs it (a pattern found in the
 * source files reachable from the function's entry by its static and dynamic imports). A new grant fails here
 * until its caller exists and the entry says why; an entry whose caller is gone fails too.
 *
 * To extend it, add the action to the function's entry (a new function: a new entry with its `entry` file), with
 * the SDK command class, module or string its code uses. Not covered here: the state machines' roles, which
 * are derived from the ASL files themselves (workflow-state-machine.test.ts).
 */
interface Caller {
  /** Found in the function's reachable sources: the SDK command, client module or string that needs the action. */
  readonly pattern: RegExp;
  readonly why: string;
}

/** Actions the Lambda service and active tracing use on every function's behalf, whatever its code does. */
const PLATFORM_ACTIONS: Readonly<Record<string, string>> = {
  'logs:CreateLogStream': 'the Lambda runtime writes the function log',
  'logs:PutLogEvents': 'the Lambda runtime writes the function log',
  'xray:PutTraceSegments': 'active tracing (Tracing: Active)',
  'xray:PutTelemetryRecords': 'active tracing (Tracing: Active)',
};
/** Environment read by the Node.js runtime or Powertools rather than by wflo's code. */
const PLATFORM_ENV = new Set([
  'NODE_OPTIONS',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_LOG_LEVEL',
]);

const DATA_API: Caller = {
  pattern: /drizzle-orm\/aws-data-api|@aws-sdk\/client-rds-data/,
  why: 'the Aurora store through the RDS Data API (drizzle aws-data-api)',
};
/** The Data API reads the cluster secret with the caller's credentials. */
const STORE: Readonly<Record<string, Caller>> = {
  'rds-data:ExecuteStatement': DATA_API,
  'rds-data:BatchExecuteStatement': DATA_API,
  'rds-data:BeginTransaction': DATA_API,
  'rds-data:CommitTransaction': DATA_API,
  'rds-data:RollbackTransaction': DATA_API,
  'secretsmanager:GetSecretValue': DATA_API,
  'secretsmanager:DescribeSecret': DATA_API,
};

const DYNAMO_APPROVALS = /@aws-sdk\/lib-dynamodb/;
/** The DynamoDB approvals adapter (functions/shared/approvals/dynamo-approvals.ts), per action. */
const APPROVALS_TABLE_CALLERS: Readonly<Record<string, Caller>> = {
  'dynamodb:PutItem': { pattern: /new PutCommand/, why: 'writes a new approval record (conditional)' },
  'dynamodb:GetItem': { pattern: /new GetCommand/, why: 'reads an approval record (consistent)' },
  'dynamodb:UpdateItem': {
    pattern: /new UpdateCommand/,
    why: 'settles a record: token, decision or expiry (conditional on pending)',
  },
  'dynamodb:Query': { pattern: /new QueryCommand/, why: 'lists by status; finds the due ones by expiry' },
  ...Object.fromEntries(
    ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'].map((a) => [
      a,
      { pattern: DYNAMO_APPROVALS, why: 'the approvals table is encrypted with the data key' },
    ]),
  ),
};

interface FunctionCallers {
  /** Entry file, relative to the repository root. */
  readonly entry: string;
  readonly actions: Readonly<Record<string, Caller>>;
}

/** Per function (activity id, `api`, `status-projector`, `reconciler`, `approval-sweeper`, `migrations`): what it may be granted, and why. */
const CALLERS: Readonly<Record<string, FunctionCallers>> = {
  'llm-invoke': {
    entry: activity('llm-invoke').entry,
    actions: {
      ...STORE,
      'elasticache:Connect': {
        pattern: /service: 'elasticache'/,
        why: 'the response cache signs an ElastiCache IAM auth token (redis-cache.ts)',
      },
      'bedrock:InvokeModel': { pattern: /ConverseCommand/, why: 'the Bedrock provider calls Converse' },
    },
  },
  'execution-finish': { entry: activity('execution-finish').entry, actions: STORE },
  'document-write': { entry: activity('document-write').entry, actions: STORE },
  'approval-request': {
    entry: activity('approval-request').entry,
    actions: {
      ...STORE,
      ...APPROVALS_TABLE_CALLERS,
      'sns:Publish': { pattern: /PublishCommand/, why: 'announces the request on the approvals topic' },
      'kms:Decrypt': {
        pattern: /PublishCommand/,
        why: 'the approvals topic is encrypted with the workflow key',
      },
      'kms:GenerateDataKey': {
        pattern: /PublishCommand/,
        why: 'the approvals topic is encrypted with the workflow key',
      },
    },
  },
  ...Object.fromEntries(
    ['lock-acquire', 'lock-release'].map((id) => [
      id,
      {
        entry: activity(id).entry,
        actions: {
          ...STORE,
          'elasticache:Connect': {
            pattern: /service: 'elasticache'/,
            why: 'the Redis lock adapter connects with an ElastiCache IAM auth token (redis-cache.ts openRedis)',
          },
        },
      },
    ]),
  ),
  'sandbox-prepare': {
    entry: activity('sandbox-prepare').entry,
    actions: {
      ...STORE,
      's3:PutObject': { pattern: /PutObjectCommand/, why: 'stores the program; signs the result PUT URL' },
      's3:GetObject': { pattern: /GetObjectCommand/, why: 'signs the code GET URL for the sandbox' },
      's3:ListBucket': { pattern: /GetObjectCommand/, why: 'a GET of a missing key answers 404, not 403' },
    },
  },
  'sandbox-collect': {
    entry: activity('sandbox-collect').entry,
    actions: {
      ...STORE,
      's3:GetObject': { pattern: /GetObjectCommand/, why: 'reads the sandbox result' },
      's3:ListBucket': {
        pattern: /GetObjectCommand/,
        why: 'a result that never arrived reads as 404, not 403',
      },
    },
  },
  api: {
    entry: 'functions/api/handler.ts',
    actions: {
      ...STORE,
      ...APPROVALS_TABLE_CALLERS,
      'states:StartExecution': { pattern: /StartExecutionCommand/, why: 'starts workflow executions' },
      'states:StopExecution': { pattern: /StopExecutionCommand/, why: 'POST /executions/{id}/cancel' },
      'states:RedriveExecution': { pattern: /RedriveExecutionCommand/, why: 'POST /executions/{id}/redrive' },
      'states:SendTaskSuccess': {
        pattern: /SendTaskSuccessCommand/,
        why: 'POST /approvals/{id}/decision approves: resumes the waiting task',
      },
      'states:SendTaskFailure': {
        pattern: /SendTaskFailureCommand/,
        why: 'POST /approvals/{id}/decision rejects: fails the waiting task with ApprovalRejectedError',
      },
      'states:SendTaskHeartbeat': {
        pattern: /SendTaskHeartbeatCommand/,
        why: 'POST /task-tokens/{token}/heartbeat keeps a waiting task within its HeartbeatSeconds',
      },
      'kms:GenerateDataKey': {
        pattern: /StartExecutionCommand/,
        why: 'StartExecution encrypts the input with the workflow key as the caller',
      },
      'kms:Decrypt': {
        pattern: /StartExecutionCommand/,
        why: 'StartExecution on an encrypted state machine',
      },
    },
  },
  'status-projector': {
    entry: 'functions/events/execution-status.ts',
    actions: {
      ...STORE,
      'states:GetExecutionHistory': {
        pattern: /GetExecutionHistoryCommand/,
        why: 'counts the state transitions of an ended run',
      },
      'kms:Decrypt': {
        pattern: /GetExecutionHistoryCommand/,
        why: 'the history is encrypted with the workflow key',
      },
      ...Object.fromEntries(
        [
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
        ].map((action) => [
          action,
          {
            pattern: /batchItemFailures/,
            why: 'Lambda polls the status-change queue for the projector, which reports partial batch failures',
          },
        ]),
      ),
    },
  },
  reconciler: {
    entry: 'functions/events/reconciler.ts',
    actions: {
      ...STORE,
      'states:DescribeExecution': {
        pattern: /DescribeExecutionCommand/,
        why: 'reads how a run left unfinished in the store ended',
      },
      'kms:Decrypt': {
        pattern: /DescribeExecutionCommand/,
        why: 'DescribeExecution returns input and output encrypted with the workflow key',
      },
    },
  },
  'approval-sweeper': {
    entry: 'functions/events/approval-sweeper.ts',
    actions: { ...STORE, ...APPROVALS_TABLE_CALLERS },
  },
  migrations: { entry: 'functions/custom-resources/migrations.ts', actions: STORE },
};

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;

/** The source files an entry reaches through relative and `#shared/`/`#local/` imports, static or dynamic. */
function reachableSources(entry: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (file: string): void => {
    if (out.has(file)) return;
    const text = readFileSync(file, 'utf8');
    out.set(file, text);
    for (const [, spec] of text.matchAll(IMPORT)) {
      let target: string | undefined;
      if (spec!.startsWith('.')) target = resolve(dirname(file), spec!);
      else if (spec!.startsWith('#shared/'))
        target = join(REPO_ROOT, 'functions/shared', `${spec!.slice(8)}.ts`);
      else if (spec!.startsWith('#local/')) target = join(REPO_ROOT, 'infra/local', `${spec!.slice(7)}.ts`);
      if (target?.endsWith('.ts')) visit(target);
    }
  };
  visit(join(REPO_ROOT, entry));
  return out;
}

/** Granted actions of a function that have no caller: not allow-listed, or allow-listed without a caller in its code. */
function uncalledActions(functionId: string, granted: readonly string[]): string[] {
  const callers = CALLERS[functionId];
  if (!callers) return [...granted].filter((a) => !(a in PLATFORM_ACTIONS)).sort();
  const code = [...reachableSources(callers.entry).values()].join('\n');
  return granted
    .filter((a) => !(a in PLATFORM_ACTIONS))
    .filter((a) => {
      const caller = callers.actions[a];
      return !caller?.pattern.test(code);
    })
    .sort();
}

let w: SynthesizedWflo;
// GIVEN the test environment, synthesized once per worker and shared with the other infra files (app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

function deployedFunctions(): [string, WfloFunction, StackKey][] {
  const { orchestration, api, data } = w.stacks;
  return [
    ...[...orchestration.activities].map(
      ([id, fn]) => [id, fn, 'orchestration'] as [string, WfloFunction, StackKey],
    ),
    ['status-projector', orchestration.projector, 'orchestration'],
    ['reconciler', orchestration.reconciler, 'orchestration'],
    ['approval-sweeper', orchestration.approvalSweeper, 'orchestration'],
    ['api', api.handler, 'api'],
    ['migrations', data.migrations.handler, 'data'],
  ];
}

function environmentOf(template: CfnTemplate, fn: WfloFunction): Record<string, unknown> {
  const props = template.Resources[logicalId(fn.function)]!.Properties as {
    Environment?: { Variables?: Record<string, unknown> };
  };
  return props.Environment?.Variables ?? {};
}

describe('Grants and environment: every one has a caller in functions/', () => {
  it('GIVEN the allow-list WHEN checked THEN it names every deployed function and every activity', () => {
    const deployed = deployedFunctions().map(([id]) => id);
    expect(deployed.sort()).toEqual(Object.keys(CALLERS).sort());
    expect(ACTIVITIES.map((a) => a.id).every((id) => id in CALLERS)).toBe(true);
  });

  it.each(Object.entries(CALLERS))(
    'GIVEN the allow-list of %s WHEN its code is read THEN every listed action has its caller',
    (id, callers) => {
      const code = [...reachableSources(callers.entry).values()].join('\n');
      const missing = Object.entries(callers.actions)
        .filter(([, caller]) => !caller.pattern.test(code))
        .map(
          ([action, caller]) =>
            `${id}: ${action} (${caller.why}) has no ${caller.pattern} in ${callers.entry}`,
        );
      expect(missing).toEqual([]);
    },
  );

  it('GIVEN the synthesized roles WHEN compared with the allow-list THEN no function is granted an action without a caller', () => {
    const uncalled = deployedFunctions().flatMap(([id, fn, stack]) => {
      const granted = [...new Set(statementsOfRole(w.json[stack], logicalId(fn.role)).flatMap(actionsOf))];
      return uncalledActions(id, granted).map((a) => `${id}: ${a}`);
    });
    expect(uncalled).toEqual([]);
  });

  it('GIVEN the synthesized functions WHEN their environment is read THEN every variable is read by their code', () => {
    const unread = deployedFunctions().flatMap(([id, fn, stack]) => {
      const code = [...reachableSources(CALLERS[id]!.entry).values()].join('\n');
      return Object.keys(environmentOf(w.json[stack], fn))
        .filter((key) => !PLATFORM_ENV.has(key) && !code.includes(key))
        .map((key) => `${id}: ${key}`);
    });
    expect(unread).toEqual([]);
  });

  it('GIVEN a grant with no caller WHEN checked THEN it is reported (the check can fail)', () => {
    // Prepare: the API's real grants plus actions no API code calls
    const granted = ['states:StartExecution', 'kms:Decrypt', 'states:ListActivities', 'dynamodb:DeleteItem'];

    // Act / Assess
    expect(uncalledActions('api', granted)).toEqual(['dynamodb:DeleteItem', 'states:ListActivities']);
    expect(uncalledActions('no-such-function', ['s3:GetObject', 'logs:PutLogEvents'])).toEqual([
      's3:GetObject',
    ]);
  });
});
