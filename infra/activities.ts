/**
 * The activity registry, and the contract between ASL files and the two targets: every `${Variable}` an ASL
 * file may use, and what fills it. Adding an activity is one entry here plus its handler file: the CDK app
 * deploys a function per entry with the memory, timeout and grants listed, the local runtime serves the same
 * handler in-process, and the tests and benchmarks read their lists from here. A variable not listed here fails
 * synth and local load by name.
 */

/**
 * What an activity may touch; each need is one binding in the orchestration stack (least privilege: an
 * activity gets exactly what it lists).
 */
export type ActivityNeed =
  /** The Aurora store through the RDS Data API (every activity records its step there). */
  | 'store'
  /** ElastiCache Valkey (runs the function in the VPC, see {@link runsInVpc}): response cache and locks. */
  | 'cache'
  /** Artifacts bucket, objects under executions/. */
  | 'artifacts-read'
  | 'artifacts-write'
  /** Calls the model provider: reads its API key secret (when configured) or invokes the Bedrock model. */
  | 'llm'
  /** Announces approval requests on the approvals SNS topic (APPROVALS_TOPIC_ARN, sns:Publish). */
  | 'approvals-notify'
  /** Writes new approval records to the DynamoDB approvals table (APPROVALS_TABLE). */
  | 'approvals-table';

/** An activity implemented as a Lambda handler (export `handler`). */
export interface ActivityDefinition {
  /** Activity id, kebab-case: names the function (`<prefix>-<id>`). */
  readonly id: string;
  /** The handler module, relative to the repository root: `functions/activities/<id>.ts`. */
  readonly entry: string;
  /** The ASL substitution variable naming this function. */
  readonly variable: string;
  readonly description: string;
  /** Memory for the Lambda on AWS (MB). */
  readonly memoryMb: number;
  /** Lambda timeout (seconds). */
  readonly timeoutSeconds: number;
  /** What it may touch, bound in this order. */
  readonly needs: readonly ActivityNeed[];
}

export const ACTIVITIES: readonly ActivityDefinition[] = [
  {
    id: 'llm-invoke',
    entry: 'functions/activities/llm-invoke.ts',
    variable: 'LlmInvokeFunction',
    description: 'Calls a model through a provider adapter; budget, cache and cost ledger',
    memoryMb: 512,
    timeoutSeconds: 300,
    needs: ['store', 'cache', 'llm'],
  },
  {
    id: 'execution-finish',
    entry: 'functions/activities/execution-finish.ts',
    variable: 'ExecutionFinishFunction',
    description: 'Records the final status, output and totals of an execution',
    memoryMb: 256,
    timeoutSeconds: 30,
    needs: ['store'],
  },
  {
    id: 'sandbox-prepare',
    entry: 'functions/activities/sandbox-prepare.ts',
    variable: 'SandboxPrepareFunction',
    description: 'Stores a program and presigns its code and result URLs for the sandbox task',
    memoryMb: 256,
    timeoutSeconds: 30,
    // Read too: the presigned GET of the code is signed with this function's role.
    needs: ['store', 'artifacts-read', 'artifacts-write'],
  },
  {
    id: 'sandbox-collect',
    entry: 'functions/activities/sandbox-collect.ts',
    variable: 'SandboxCollectFunction',
    description: 'Reads a sandbox result; records output, exit code and compute cost',
    memoryMb: 512,
    timeoutSeconds: 60,
    needs: ['store', 'artifacts-read'],
  },
  {
    id: 'approval-request',
    entry: 'functions/activities/approval-request.ts',
    variable: 'ApprovalRequestFunction',
    description: 'Records a pending approval with its task token and expiry (a .waitForTaskToken Task)',
    memoryMb: 256,
    timeoutSeconds: 30,
    needs: ['store', 'approvals-table', 'approvals-notify'],
  },
  {
    id: 'lock-acquire',
    entry: 'functions/activities/lock-acquire.ts',
    variable: 'LockAcquireFunction',
    description:
      'Acquires a named lock with a TTL and returns its fencing token (LockNotAcquiredError while held)',
    memoryMb: 256,
    // The bounded wait (waitSeconds, at most 20 s) fits with room for the step's bookkeeping.
    timeoutSeconds: 30,
    needs: ['store', 'cache'],
  },
  {
    id: 'lock-release',
    entry: 'functions/activities/lock-release.ts',
    variable: 'LockReleaseFunction',
    description: 'Releases a lock only for its owner (compare-and-delete); another owner is left untouched',
    memoryMb: 256,
    timeoutSeconds: 30,
    needs: ['store', 'cache'],
  },
  {
    id: 'document-write',
    entry: 'functions/activities/document-write.ts',
    variable: 'DocumentWriteFunction',
    description: 'Writes a shared document only with a fencing token at least the newest it has seen',
    memoryMb: 256,
    timeoutSeconds: 30,
    needs: ['store'],
  },
];

/**
 * Needs only reachable from inside the VPC. Everything else an activity touches (the RDS Data API, S3, DynamoDB,
 * SNS, Secrets Manager, Bedrock, a model provider on the internet) has a public endpoint, and a function outside
 * the VPC reaches it without an ENI, without the NAT gateway's per-GB charge and with a shorter cold start.
 */
export const VPC_NEEDS: readonly ActivityNeed[] = ['cache'];

/** Whether the activity's function is placed in the VPC: exactly when one of its needs is {@link VPC_NEEDS}. */
export function runsInVpc(activity: Pick<ActivityDefinition, 'needs'>): boolean {
  return activity.needs.some((n) => VPC_NEEDS.includes(n));
}

/** The registry entry of an activity; throws naming the known ids when there is none. */
export function activity(id: string): ActivityDefinition {
  const found = ACTIVITIES.find((a) => a.id === id);
  if (!found)
    throw new Error(
      `no activity '${id}' in infra/activities.ts (known: ${ACTIVITIES.map((a) => a.id).join(', ')})`,
    );
  return found;
}

/** Substitution variables that name infrastructure rather than a Lambda activity. */
export const RESOURCE_VARIABLES = [
  'SandboxCluster',
  'SandboxTaskDefinition',
  'SandboxSubnets',
  'SandboxSecurityGroup',
] as const;

/** Every variable an ASL file may reference. */
export function knownVariables(): string[] {
  return [...ACTIVITIES.map((a) => a.variable), ...RESOURCE_VARIABLES];
}
