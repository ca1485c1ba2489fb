import { availableParallelism, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';
import type { ConfigEnvKey } from './contracts/env.ts';
import { ConfigError } from './errors.ts';
import { LLM_PROVIDERS } from './llm/providers.ts';
import { usdToMicros } from './money.ts';

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

// Keyed by the env contract: a key missing here, or one the contract does not name, fails `tsc`.
const EnvSchema = z.object({
  /** Embedded data folder; `memory://` keeps PGlite in memory (tests). */
  WFLO_DATA_DIR: z.string().trim().min(1).default('.wflo'),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  // Aurora Data API store (set by the CDK constructs on AWS); all three or none.
  DB_CLUSTER_ARN: optionalString.pipe(
    z
      .string()
      .regex(/^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:.+$/, 'must be an Aurora cluster ARN')
      .optional(),
  ),
  DB_SECRET_ARN: optionalString.pipe(
    z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/,
        'must be a Secrets Manager secret ARN',
      )
      .optional(),
  ),
  DB_NAME: optionalString,
  LLM_PROVIDER: z.enum(LLM_PROVIDERS).default('scripted'),
  LLM_MODEL: optionalString,
  OPENAI_BASE_URL: z.url().default('https://api.openai.com/v1'),
  OPENAI_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: z.url().default('https://api.anthropic.com'),
  ANTHROPIC_API_KEY: optionalString,
  /** On AWS: Secrets Manager secret holding the provider API key (raw string or JSON {"apiKey": "…"}). */
  LLM_SECRET_ARN: optionalString,
  LLM_SCRIPT_FILE: optionalString,
  LLM_TIMEOUT_MS: z.coerce.number().int().min(100).max(900_000).default(120_000),
  LLM_MAX_OUTPUT_TOKENS: z.coerce.number().int().min(1).max(200_000).default(1024),
  WFLO_PRICES_FILE: optionalString,
  WFLO_STATEMACHINES_DIR: z.string().trim().min(1).default('statemachines'),
  WFLO_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  WFLO_HOST: z.string().trim().min(1).default('127.0.0.1'),
  /** Bearer token every request to `wflo dev` must carry (generated at start with --allow-remote when unset). */
  WFLO_API_TOKEN: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  /** Executions `wflo dev` runs at once; a start beyond them gets 429 with Retry-After. */
  WFLO_MAX_RUNS_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(32),
  /** Embedded engine on a shared PostgreSQL: how long a process's claim on a run holds without renewal. */
  WFLO_LEASE_SECONDS: z.coerce.number().min(1).max(3_600).default(15),
  /** Redis/Valkey for the response cache (`redis://` or `rediss://`); the store's table when unset. */
  REDIS_URL: optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  /** ElastiCache Serverless (set by the CDK constructs): endpoint, port, TLS, IAM user and cache name. */
  VALKEY_ENDPOINT: optionalString,
  VALKEY_PORT: z.coerce.number().int().min(1).max(65535).default(6379),
  VALKEY_TLS: z.enum(['true', 'false']).default('true'),
  VALKEY_AUTH: z.enum(['iam', 'none']).default('none'),
  VALKEY_USER: optionalString,
  VALKEY_CACHE_NAME: optionalString,
  AWS_REGION: optionalString,
  CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(31_536_000).default(86_400),
  CACHE_TIMEOUT_MS: z.coerce.number().int().min(10).max(10_000).default(250),
  /** On AWS: JSON object workflow name → state machine ARN (set by the API stack). */
  WORKFLOW_STATE_MACHINES: optionalString,
  /** On AWS: the artifacts bucket (set by the CDK's bindArtifacts); a local directory when unset. */
  ARTIFACTS_BUCKET: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
      .optional(),
  ),
  /** Local artifacts directory. @default `${WFLO_DATA_DIR}/artifacts` (a per-user temp dir for memory://) */
  WFLO_ARTIFACTS_DIR: optionalString,
  /** Run sandboxed code WITHOUT bubblewrap when it is missing (trusted code only; `--unsafe-local-sandbox`). */
  SANDBOX_UNSAFE_LOCAL: z.enum(['true', 'false', '1', '0']).default('false'),
  /** Size of one sandbox task (Fargate CPU units and MiB), for its compute cost where the task does not say. */
  SANDBOX_CPU: z.coerce.number().int().min(256).max(16_384).default(512),
  SANDBOX_MEMORY_MIB: z.coerce.number().int().min(512).max(122_880).default(1024),
  /** Local sandboxes running at once; more wait in order. @default os.availableParallelism() */
  SANDBOX_MAX_CONCURRENT: z.coerce.number().int().min(1).max(1024).optional(),
  /** On AWS: the SNS topic approval requests are announced on (set by the CDK); none locally. */
  APPROVALS_TOPIC_ARN: optionalString.pipe(
    z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:.+$/, 'must be an SNS topic ARN')
      .optional(),
  ),
  /** On AWS: the DynamoDB approvals table (set by the CDK's bindApprovals); the store's table when unset. */
  APPROVALS_TABLE: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name')
      .optional(),
  ),
  /** Embedded: who decides approvals from this machine's API and CLI. @default the OS user name */
  WFLO_USER: optionalString,
  /** Embedded: the roles WFLO_USER acts in, comma-separated. @default none */
  WFLO_USER_ROLES: optionalString,
  WFLO_DEFAULT_BUDGET_USD: optionalString.pipe(
    z
      .string()
      .regex(/^\d+(\.\d{1,6})?$/)
      .optional(),
  ),
  /** Kafka bootstrap brokers (`host:port,…`): the outbox is relayed there when set; off (SSE reads the outbox) when not. */
  KAFKA_BROKERS: optionalString,
  /** `iam`: SASL OAUTHBEARER with an MSK IAM token (MSK Serverless, TLS); `none`: plaintext (a local broker). */
  KAFKA_AUTH: z.enum(['none', 'iam']).default('none'),
  /** On AWS: the SNS topic the run notifier (a Kafka consumer) announces run ends on (set by the CDK). */
  RUN_NOTIFICATIONS_TOPIC_ARN: optionalString.pipe(
    z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:.+$/, 'must be an SNS topic ARN')
      .optional(),
  ),
} satisfies Record<ConfigEnvKey, z.ZodType>);

/** Which store adapter runs, chosen from the environment (never by a handler). */
export type StoreConfig =
  | { kind: 'pglite'; dataDir: string }
  | { kind: 'postgres'; url: string; poolSize: number }
  | { kind: 'data-api'; resourceArn: string; secretArn: string; database: string };

/** The one validated view of the environment every handler and the local runtime read. */
export interface Config {
  readonly store: StoreConfig;
  readonly dataDir: string;
  readonly llm: {
    readonly defaultProvider: 'scripted' | 'openai-compatible' | 'bedrock' | 'anthropic';
    /** Model used when a step names none. */
    readonly defaultModel: string;
    readonly openai: { readonly baseUrl: string; readonly apiKey: string | undefined };
    /** Anthropic Messages API; the Bedrock provider needs no settings here (AWS SDK region and credential chain). */
    readonly anthropic: { readonly baseUrl: string; readonly apiKey: string | undefined };
    /** A scripted-provider script file; the bundled demo script when unset. */
    readonly scriptFile: string | undefined;
    /** Secret with the API key of the default provider, read once at start (AWS). */
    readonly secretArn: string | undefined;
    readonly timeoutMs: number;
    readonly maxOutputTokens: number;
  };
  readonly pricesFile: string | undefined;
  readonly statemachinesDir: string;
  readonly api: {
    readonly port: number;
    readonly host: string;
    /** Bearer token the local server requires of every request, when set (WFLO_API_TOKEN). */
    readonly token: string | undefined;
    /** Executions the local server runs at once before it answers 429 (WFLO_MAX_RUNS_IN_FLIGHT). */
    readonly maxRunsInFlight: number;
  };
  /** Budget of an execution started without one (WFLO_DEFAULT_BUDGET_USD), in micro-dollars. */
  readonly defaultBudgetMicros: number | undefined;
  readonly engine: {
    /** A run whose owner did not renew its claim for this long is taken over (WFLO_LEASE_SECONDS). */
    readonly leaseSeconds: number;
  };
  readonly cache: {
    readonly target:
      | { kind: 'store' }
      | { kind: 'redis-url'; url: string }
      | {
          kind: 'elasticache';
          host: string;
          port: number;
          tls: boolean;
          iam: { user: string; cacheName: string; region: string } | undefined;
        };
    readonly ttlSeconds: number;
    /** A cache call slower than this is abandoned and the request goes on without it (fail-open). */
    readonly timeoutMs: number;
  };
  readonly approvals: {
    /** SNS topic announcing approval requests (AWS). */
    readonly topicArn: string | undefined;
    /**
     * Where approval records live: the DynamoDB table (AWS; the store keeps the audit copy) or the store's
     * own table (the embedded default).
     */
    readonly target: { readonly kind: 'store' } | { readonly kind: 'dynamodb'; readonly table: string };
    /** The local decider (embedded API and CLI): WFLO_USER and WFLO_USER_ROLES. */
    readonly localUser: { readonly principal: string; readonly roles: readonly string[] };
  };
  /** Workflow name → Standard state machine ARN, on AWS. */
  readonly stateMachines: Readonly<Record<string, string>>;
  /** Where sandbox code and results go: the S3 bucket on AWS, a directory locally. */
  readonly artifacts:
    | { readonly kind: 's3'; readonly bucket: string }
    | { readonly kind: 'local'; readonly dir: string };
  readonly sandbox: {
    /** Locally: run without bubblewrap when it is missing (no isolation; trusted code only). */
    readonly unsafeLocal: boolean;
    /** Task size (CPU units, MiB) charged when a run does not report its own (the local sandbox). */
    readonly cpu: number;
    readonly memoryMiB: number;
    /** Locally: sandboxes running at once; further runs wait in arrival order (their timeout running). */
    readonly maxConcurrent: number;
  };
  /** The SNS topic run ends are announced on (the run notifier consumer), when deployed. */
  readonly runNotificationsTopicArn: string | undefined;
  /** Where the outbox is relayed (KAFKA_BROKERS), or undefined: no relay, the outbox is read directly. */
  readonly kafka:
    | {
        readonly brokers: readonly string[];
        /** MSK IAM (SASL OAUTHBEARER over TLS) in `region`, or plaintext. */
        readonly auth: { readonly kind: 'none' } | { readonly kind: 'iam'; readonly region: string };
      }
    | undefined;
}

/**
 * Reads and validates the environment once. Throws {@link ConfigError} naming every bad variable.
 * @example const config = loadConfig(); // process.env
 * @example const config = loadConfig({ DATABASE_URL: 'postgres://localhost/wflo' });
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // jitless: the environment is parsed once per process, so the fast path zod would compile for this object
  // (new Function over every key) never pays back; it cost each Lambda cold start ~10 ms of CPU.
  const parsed = EnvSchema.safeParse(env, { jitless: true });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join('; ')}`);
  }
  const e = parsed.data;
  if (e.LLM_PROVIDER !== 'scripted' && !e.LLM_MODEL) {
    throw new ConfigError(`invalid configuration: LLM_MODEL: required when LLM_PROVIDER=${e.LLM_PROVIDER}`);
  }
  if (e.LLM_PROVIDER === 'anthropic' && !e.ANTHROPIC_API_KEY && !e.LLM_SECRET_ARN) {
    throw new ConfigError(
      'invalid configuration: ANTHROPIC_API_KEY (or LLM_SECRET_ARN): required when LLM_PROVIDER=anthropic',
    );
  }
  const dataApiVars = {
    DB_CLUSTER_ARN: e.DB_CLUSTER_ARN,
    DB_SECRET_ARN: e.DB_SECRET_ARN,
    DB_NAME: e.DB_NAME,
  };
  const dataApiMissing = Object.entries(dataApiVars)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (dataApiMissing.length > 0 && dataApiMissing.length < 3) {
    throw new ConfigError(
      `invalid configuration: ${dataApiMissing.join(', ')}: required with the other Aurora Data API variables (DB_CLUSTER_ARN, DB_SECRET_ARN, DB_NAME)`,
    );
  }
  const store: StoreConfig =
    e.DB_CLUSTER_ARN && e.DB_SECRET_ARN && e.DB_NAME
      ? { kind: 'data-api', resourceArn: e.DB_CLUSTER_ARN, secretArn: e.DB_SECRET_ARN, database: e.DB_NAME }
      : e.DATABASE_URL
        ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE }
        : {
            kind: 'pglite',
            dataDir: e.WFLO_DATA_DIR === 'memory://' ? 'memory://' : `${e.WFLO_DATA_DIR}/pgdata`,
          };
  return {
    store,
    dataDir: e.WFLO_DATA_DIR,
    llm: {
      defaultProvider: e.LLM_PROVIDER,
      defaultModel: e.LLM_MODEL ?? 'agent-demo',
      openai: { baseUrl: e.OPENAI_BASE_URL.replace(/\/+$/, ''), apiKey: e.OPENAI_API_KEY },
      anthropic: { baseUrl: e.ANTHROPIC_BASE_URL.replace(/\/+$/, ''), apiKey: e.ANTHROPIC_API_KEY },
      scriptFile: e.LLM_SCRIPT_FILE,
      secretArn: e.LLM_SECRET_ARN,
      timeoutMs: e.LLM_TIMEOUT_MS,
      maxOutputTokens: e.LLM_MAX_OUTPUT_TOKENS,
    },
    pricesFile: e.WFLO_PRICES_FILE,
    statemachinesDir: e.WFLO_STATEMACHINES_DIR,
    api: {
      port: e.WFLO_PORT,
      host: e.WFLO_HOST,
      token: e.WFLO_API_TOKEN,
      maxRunsInFlight: e.WFLO_MAX_RUNS_IN_FLIGHT,
    },
    engine: { leaseSeconds: e.WFLO_LEASE_SECONDS },
    defaultBudgetMicros:
      e.WFLO_DEFAULT_BUDGET_USD === undefined ? undefined : usdToMicros(e.WFLO_DEFAULT_BUDGET_USD),
    approvals: {
      topicArn: e.APPROVALS_TOPIC_ARN,
      target: e.APPROVALS_TABLE ? { kind: 'dynamodb', table: e.APPROVALS_TABLE } : { kind: 'store' },
      localUser: {
        principal: e.WFLO_USER ?? localUserName(),
        roles: (e.WFLO_USER_ROLES ?? '')
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      },
    },
    stateMachines: parseStateMachines(e.WORKFLOW_STATE_MACHINES),
    cache: { target: cacheTarget(e), ttlSeconds: e.CACHE_TTL_SECONDS, timeoutMs: e.CACHE_TIMEOUT_MS },
    artifacts: e.ARTIFACTS_BUCKET
      ? { kind: 's3', bucket: e.ARTIFACTS_BUCKET }
      : {
          kind: 'local',
          dir:
            e.WFLO_ARTIFACTS_DIR ??
            (e.WFLO_DATA_DIR === 'memory://'
              ? join(tmpdir(), `wflo-artifacts-${process.getuid?.() ?? 'user'}`)
              : `${e.WFLO_DATA_DIR}/artifacts`),
        },
    sandbox: {
      unsafeLocal: e.SANDBOX_UNSAFE_LOCAL === 'true' || e.SANDBOX_UNSAFE_LOCAL === '1',
      cpu: e.SANDBOX_CPU,
      memoryMiB: e.SANDBOX_MEMORY_MIB,
      maxConcurrent: e.SANDBOX_MAX_CONCURRENT ?? availableParallelism(),
    },
    kafka: kafkaConfig(e),
    runNotificationsTopicArn: e.RUN_NOTIFICATIONS_TOPIC_ARN,
  };
}

function kafkaConfig(e: z.infer<typeof EnvSchema>): Config['kafka'] {
  if (!e.KAFKA_BROKERS) return undefined;
  const brokers = e.KAFKA_BROKERS.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.some((b) => !/^[^\s:]+:\d{1,5}$/.test(b))) {
    throw new ConfigError('invalid configuration: KAFKA_BROKERS: must be host:port[,host:port…]');
  }
  if (e.KAFKA_AUTH === 'iam') {
    if (!e.AWS_REGION)
      throw new ConfigError('invalid configuration: AWS_REGION: required with KAFKA_AUTH=iam');
    return { brokers, auth: { kind: 'iam', region: e.AWS_REGION } };
  }
  return { brokers, auth: { kind: 'none' } };
}

const StateMachinesSchema = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'workflow names are kebab-case'),
  z.string().regex(/^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:.+$/, 'must be a state machine ARN'),
);

function parseStateMachines(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (cause) {
    throw new ConfigError('invalid configuration: WORKFLOW_STATE_MACHINES: not JSON', { cause });
  }
  const parsed = StateMachinesSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (i) => `WORKFLOW_STATE_MACHINES.${i.path.join('.')}: ${i.message}`,
    );
    throw new ConfigError(`invalid configuration: ${issues.join('; ')}`);
  }
  return parsed.data;
}

function cacheTarget(e: z.infer<typeof EnvSchema>): Config['cache']['target'] {
  if (e.VALKEY_ENDPOINT) {
    let iam: { user: string; cacheName: string; region: string } | undefined;
    if (e.VALKEY_AUTH === 'iam') {
      const missing = (['VALKEY_USER', 'VALKEY_CACHE_NAME', 'AWS_REGION'] as const).filter((k) => !e[k]);
      if (missing.length)
        throw new ConfigError(`invalid configuration: ${missing.join(', ')}: required with VALKEY_AUTH=iam`);
      iam = { user: e.VALKEY_USER!, cacheName: e.VALKEY_CACHE_NAME!, region: e.AWS_REGION! };
    }
    return {
      kind: 'elasticache',
      host: e.VALKEY_ENDPOINT,
      port: e.VALKEY_PORT,
      tls: e.VALKEY_TLS === 'true',
      iam,
    };
  }
  if (e.REDIS_URL) return { kind: 'redis-url', url: e.REDIS_URL };
  return { kind: 'store' };
}

/** The OS user's name (a Lambda sandbox may have none: then `local`). */
function localUserName(): string {
  try {
    return userInfo().username || 'local';
  } catch {
    return 'local';
  }
}
