import type { ActivityNeed } from '../../infra/activities.ts';
import { type PolicyStatementJson, STACK_KEYS, type SynthesizedWflo, synthWflo } from './helpers.ts';

/*
 * The one synthesized app most infra test files assert on (one file per construct or stack), and the IAM
 * expectations several of them share. Synthesis is the slow part (~25 s on a busy machine), so it runs once
 * per worker: the infra project runs its files without isolation (tests/vitest.config.ts), and every file
 * that calls sharedWflo() in the same worker gets the same app. No test may change it.
 */

/** The context of the shared app: a non-dev environment with an alarm email. */
export const SHARED_CONTEXT = { envName: 'test', alarmEmail: 'ops@example.com' } as const;

let shared: SynthesizedWflo | undefined;

/** The app synthesized with {@link SHARED_CONTEXT}, built on first use in this worker and removed at exit. */
export function sharedWflo(): SynthesizedWflo {
  if (!shared) {
    const synthesized = synthWflo({ ...SHARED_CONTEXT });
    shared = synthesized;
    process.once('exit', () => synthesized.cleanup());
  }
  return shared;
}

/** Every IAM statement in every template, with where it came from. */
export function allStatements(
  w: SynthesizedWflo,
): { stack: string; policy: string; statement: PolicyStatementJson }[] {
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

/** What every function's role may do: logs and traces. */
export const BASE_ACTIVITY_ACTIONS = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTelemetryRecords',
  'xray:PutTraceSegments',
];

/** The actions each activity need adds to the base. */
export const NEED_ACTIONS: Record<ActivityNeed, string[]> = {
  store: [
    'rds-data:BatchExecuteStatement',
    'rds-data:BeginTransaction',
    'rds-data:CommitTransaction',
    'rds-data:ExecuteStatement',
    'rds-data:RollbackTransaction',
    'secretsmanager:DescribeSecret',
    'secretsmanager:GetSecretValue',
  ],
  cache: ['elasticache:Connect'],
  'artifacts-read': ['s3:GetObject', 's3:ListBucket'],
  'artifacts-write': ['s3:PutObject'],
  llm: [], // the scripted provider needs no key and no Bedrock (see variants.test.ts)
  // Publishing to the topic encrypted with the workflow key uses that key as the caller.
  'approvals-notify': ['sns:Publish', 'kms:Decrypt', 'kms:GenerateDataKey'],
  // The table is encrypted with the data key, used through DynamoDB only.
  'approvals-table': [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:GetItem',
    'kms:Decrypt',
    'kms:DescribeKey',
    'kms:Encrypt',
    'kms:GenerateDataKey',
  ],
};

/** Actions that AWS offers only on "*" and that every function's role carries. */
export const STAR_ONLY_ACTIONS = new Set(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
