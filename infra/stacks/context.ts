import { z } from 'zod';
import { KEYED_PROVIDERS, LLM_PROVIDERS } from '../../functions/shared/llm/providers.ts';
import { MAX_WORKFLOW_TIMEOUT_SECONDS } from '../constructs/workflow-state-machine.ts';

/** Log retention values CloudWatch Logs accepts (days). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653,
] as const;

/** Fargate CPU units → the memory sizes (MiB) AWS allows with them. */
const FARGATE_MEMORY: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
};

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** `-c key=value` arrives as a string; cdk.json and tests pass real numbers and booleans. Accept both. */
const bool = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
    return v;
  },
  z.boolean({ error: 'must be true or false' }),
);

const num = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), schema);

const timeoutSeconds = num(
  z
    .number({ error: 'must be a whole number of seconds' })
    .int({ error: 'must be a whole number of seconds' })
    .min(1, { error: 'must be at least 1 second' })
    .max(MAX_WORKFLOW_TIMEOUT_SECONDS, {
      error: `must be at most ${MAX_WORKFLOW_TIMEOUT_SECONDS} seconds (one year, the Step Functions Standard limit)`,
    }),
);

/** `-c workflowTimeouts='{"agent-loop":7200}'` arrives as JSON text; tests and cdk.json pass an object. */
const timeoutsByWorkflow = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  },
  z.record(z.string().regex(/^[a-z0-9-]+$/, 'workflow names are kebab-case'), timeoutSeconds, {
    error: 'must be a JSON object of workflow name → seconds, e.g. {"agent-loop":7200}',
  }),
);

/** Step Functions log levels (`stateMachineLogLevel`). */
export const STATE_MACHINE_LOG_LEVELS = ['ALL', 'ERROR', 'FATAL', 'OFF'] as const;

const ContextSchema = z
  .object({
    /** Short name prefixed to every stack and resource name, e.g. `dev`, `prod`. */
    envName: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{1,14}$/,
        'must be 2-15 characters: lowercase letters, digits, hyphens, starting with a letter',
      )
      .default('dev'),
    /**
     * A development environment: may run without alarm recipients, logs every state-machine event by default
     * and drops its data with `cdk destroy`. @default true when envName is `dev` or starts with `dev-`
     */
    dev: bool.optional(),
    /** Email address the alarm topic notifies (a subscription confirmation is sent on deploy). */
    alarmEmail: z.email({ error: 'must be an email address' }).optional(),
    /** An existing SNS topic (e.g. wired to a chat integration) the alarms notify as well. */
    alarmTopicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN')
      .optional(),
    /** Budget (USD) applied to executions started without one. */
    defaultBudgetUsd: z
      .string()
      .regex(/^\d+(\.\d{1,6})?$/, 'must be a decimal amount in USD with at most 6 decimals, e.g. 5 or 0.25')
      .default('5'),
    /** The cost alarm fires when wflo spends more than this many USD in one hour. */
    costAlarmUsdPerHour: num(z.number({ error: 'must be a number of USD' }).positive()).default(10),
    /** LLM provider the activities use when a step names none (must be one config.ts supports). */
    llmProvider: z
      .enum(LLM_PROVIDERS, { error: `must be one of ${LLM_PROVIDERS.join(', ')}` })
      .default('scripted'),
    /** Default model id; required for real providers (for bedrock: a model id or an inference profile id). */
    llmModel: z.string().trim().min(1).optional(),
    /** Base URL of the openai-compatible or anthropic endpoint (default: the provider's public API). */
    llmBaseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    /** Secrets Manager secret holding the provider API key (complete ARN, with the 6-character suffix). */
    llmSecretArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
        'must be the complete ARN of a Secrets Manager secret (ending in the 6-character suffix)',
      )
      .optional(),
    /** Aurora Serverless v2 capacity range (ACUs). 0 lets the cluster pause when idle. */
    dbMinCapacity: num(
      z
        .number({ error: 'must be a number of ACUs' })
        .min(0)
        .max(256)
        .multipleOf(0.5, { error: 'must be a multiple of 0.5 ACU' }),
    ).default(0.5),
    dbMaxCapacity: num(
      z
        .number({ error: 'must be a number of ACUs' })
        .min(1)
        .max(256)
        .multipleOf(0.5, { error: 'must be a multiple of 0.5 ACU' }),
    ).default(4),
    /**
     * Aurora deletion protection. Off for the first deploy (a protected cluster blocks the rollback of a failed
     * create); turn it on once the environment is up (DEPLOYMENT.md, second step for production).
     */
    deletionProtection: bool.default(false),
    /** CloudFormation termination protection on every stack of the environment (second step for production). */
    terminationProtection: bool.default(false),
    /**
     * Keep data stores and logs when a resource is replaced or the stack deleted (RETAIN_ON_UPDATE_OR_DELETE:
     * a failed first create still rolls back cleanly). @default true, except in dev environments
     */
    retainData: bool.optional(),
    /** NAT gateways for the activity Lambdas' internet egress (1 is cheaper, 2 survives an AZ outage). */
    natGateways: num(z.number().int().min(1).max(2)).default(1),
    /** Fargate size of one sandbox task. */
    sandboxCpu: num(z.number().int()).default(512),
    sandboxMemoryMiB: num(z.number().int()).default(1024),
    /** ElastiCache Serverless upper limits. */
    cacheMaxDataGb: num(z.number().int().min(1).max(5000)).default(1),
    cacheMaxEcpuPerSecond: num(z.number().int().min(1000).max(15_000_000)).default(5000),
    /**
     * MSK Serverless for the event stream (about $550/month fixed). Off until something produces to it; events stay
     * in the Postgres outbox either way.
     */
    kafka: bool.default(false),
    /** Step Functions log level. @default ALL in dev environments, ERROR elsewhere */
    stateMachineLogLevel: z
      .enum(STATE_MACHINE_LOG_LEVELS, { error: `must be one of ${STATE_MACHINE_LOG_LEVELS.join(', ')}` })
      .optional(),
    /** Include execution input and output in the state-machine log events (encrypted with the stack's key). */
    stateMachineExecutionData: bool.default(true),
    /** Top-level TimeoutSeconds for a workflow whose ASL file has none. */
    workflowTimeoutSeconds: timeoutSeconds.optional(),
    /** Per-workflow TimeoutSeconds, overriding the ASL file's: `{"agent-loop":7200}`. */
    workflowTimeouts: timeoutsByWorkflow.default({}),
    /**
     * Also synthesize `Wflo-ApiGatewayAccount`, the once-per-account-and-region stack that owns API Gateway's
     * CloudWatch Logs role (AWS::ApiGateway::Account). No environment stack owns it.
     */
    apiGatewayAccount: bool.default(false),
    /** API authorization: IAM (SigV4) or a Cognito user pool. */
    apiAuth: z.enum(['iam', 'cognito'], { error: 'must be iam or cognito' }).default('iam'),
    cognitoUserPoolArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool\/[a-z0-9-]+_[A-Za-z0-9]+$/,
        'must be a user pool ARN',
      )
      .optional(),
    apiThrottleRatePerSecond: num(z.number().int().min(1).max(10_000)).default(50),
    apiThrottleBurst: num(z.number().int().min(1).max(5_000)).default(100),
    logRetentionDays: num(z.number().int())
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        error: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
  })
  .superRefine((c, ctx) => {
    if (c.dbMaxCapacity < c.dbMinCapacity) {
      ctx.addIssue({ code: 'custom', path: ['dbMaxCapacity'], message: 'must be at least dbMinCapacity' });
    }
    const memory = FARGATE_MEMORY[c.sandboxCpu];
    if (!memory) {
      ctx.addIssue({
        code: 'custom',
        path: ['sandboxCpu'],
        message: `must be one of ${Object.keys(FARGATE_MEMORY).join(', ')}`,
      });
    } else if (!memory.includes(c.sandboxMemoryMiB)) {
      ctx.addIssue({
        code: 'custom',
        path: ['sandboxMemoryMiB'],
        message: `must be one of ${memory[0]}..${memory.at(-1)} (step ${memory.length > 1 ? memory[1]! - memory[0]! : 0}) with sandboxCpu=${c.sandboxCpu}`,
      });
    }
    if (c.llmProvider !== 'scripted' && !c.llmModel) {
      ctx.addIssue({
        code: 'custom',
        path: ['llmModel'],
        message: `required when llmProvider=${c.llmProvider}`,
      });
    }
    if (KEYED_PROVIDERS.includes(c.llmProvider) && !c.llmSecretArn) {
      ctx.addIssue({
        code: 'custom',
        path: ['llmSecretArn'],
        message: `required when llmProvider=${c.llmProvider} (store the API key in Secrets Manager, see DEPLOYMENT.md)`,
      });
    }
    if (c.llmBaseUrl && !KEYED_PROVIDERS.includes(c.llmProvider)) {
      ctx.addIssue({
        code: 'custom',
        path: ['llmBaseUrl'],
        message: `only applies to ${KEYED_PROVIDERS.join(' and ')}`,
      });
    }
    if (!isDev(c) && !c.alarmEmail && !c.alarmTopicArn) {
      ctx.addIssue({
        code: 'custom',
        path: ['alarmEmail'],
        message:
          `required outside dev environments (envName=${c.envName}): pass -c alarmEmail=<ops address> or ` +
          '-c alarmTopicArn=<SNS topic ARN>, or mark a development environment with -c dev=true',
      });
    }
    if (c.apiAuth === 'cognito' && !c.cognitoUserPoolArn) {
      ctx.addIssue({
        code: 'custom',
        path: ['cognitoUserPoolArn'],
        message: 'required when apiAuth=cognito',
      });
    }
  });

function isDev(c: { dev?: boolean | undefined; envName: string }): boolean {
  return c.dev ?? /^dev(-|$)/.test(c.envName);
}

type ParsedContext = z.infer<typeof ContextSchema>;

/** The validated deployment parameters (CDK context), with the dev-dependent defaults resolved. */
export type WfloContext = Omit<ParsedContext, 'dev' | 'retainData' | 'stateMachineLogLevel'> & {
  readonly dev: boolean;
  readonly retainData: boolean;
  readonly stateMachineLogLevel: (typeof STATE_MACHINE_LOG_LEVELS)[number];
};

/** Every context key the app reads; anything else passed with `-c` is left to the CDK itself. */
export const CONTEXT_KEYS = Object.keys(ContextSchema.shape) as (keyof ParsedContext)[];

/**
 * Validates the deployment parameters. Throws one error naming every bad key and how to pass it.
 * @example parseContext({ envName: 'prod', alarmEmail: 'ops@example.com' })
 */
export function parseContext(raw: Readonly<Record<string, unknown>>): WfloContext {
  const picked: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) if (raw[key] !== undefined) picked[key] = raw[key];
  const parsed = ContextSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = i.path.join('.') || '(context)';
      const got = i.path.length > 0 ? picked[String(i.path[0])] : undefined;
      return `  - ${key}: ${i.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`;
    });
    throw new Error(`Invalid wflo context parameters (pass them with -c key=value):\n${lines.join('\n')}`);
  }
  const dev = isDev(parsed.data);
  return {
    ...parsed.data,
    dev,
    retainData: parsed.data.retainData ?? !dev,
    stateMachineLogLevel: parsed.data.stateMachineLogLevel ?? (dev ? 'ALL' : 'ERROR'),
  };
}
