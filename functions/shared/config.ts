import { availableParallelism, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';
import type { ConfigEnvKey } from './contracts/env.ts';
import { ConfigError } from './errors.ts';
import { LLM_PROVIDERS } from './llm/providers.ts';
import { usdToMicros } from './money.ts';

/**
 * One environment variable: its zod schema (the contract), built only when the variable is set, and what it
 * reads as when it is not. Building a zod schema is the expensive part of reading the environment (each
 * `.min()`/`.default()` constructs another schema); a Lambda sets about ten of these variables, so building
 * the fifty schemas up front cost each cold start ~20 ms of CPU. `unset` is exactly what the schema gives for
 * `undefined` (its `.default()` value, or `undefined` for `.optional()`), by construction of
 * {@link withDefault} and {@link optional}.
 */
export interface EnvField<T = unknown> {
  readonly schema: () => z.ZodType;
  readonly unset: T;
  /** A blank value (empty or only spaces) reads as unset. */
  readonly blankIsUnset?: boolean;
}

/** A variable that reads as `undefined` when unset (`schema().optional()`). */
const optional = <S extends z.ZodType>(schema: () => S): EnvField<z.output<S> | undefined> => ({
  schema: () => schema().optional(),
  unset: undefined,
});

/** A variable that reads as `value` when unset (`schema().default(value)`). */
const withDefault = <S extends z.ZodType>(value: z.output<S>, schema: () => S): EnvField<z.output<S>> => ({
  // biome-ignore lint/suspicious/noExplicitAny: zod's `.default` wants its own NoUndefined<output<this>>, which a generic S cannot name; `value` is typed by S above.
  schema: () => schema().default(value as any),
  unset: value,
});

/**
 * A text variable, trimmed, that reads as `undefined` when unset or blank (an empty variable counts as not
 * set: readEnv treats it as unset before any schema runs). `check` adds the rules the trimmed text must meet.
 */
const optionalText = (
  check: (text: z.ZodString) => z.ZodString = (text) => text,
): EnvField<string | undefined> => ({
  schema: () => check(z.string().trim()).optional(),
  unset: undefined,
  blankIsUnset: true,
});

/** An SNS topic ARN (set by the CDK), or unset. A new field per variable, like every other. */
const snsTopicArn = () =>
  optionalText((s) => s.regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:.+$/, 'must be an SNS topic ARN'));

// Keyed by the env contract: a key missing here, or one the contract does not name, fails `tsc`.
// Exported for the config test (every field's `unset` is what its schema makes of undefined).
export const ENV_FIELDS = {
  /** Embedded data folder; `memory://` keeps PGlite in memory (tests). */
  WFLO_DATA_DIR: withDefault('.wflo', () => z.string().trim().min(1)),
  DATABASE_URL: optionalText((s) =>
    s.regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
  ),
  DATABASE_POOL_SIZE: withDefault(10, () => z.coerce.number().int().min(1).max(200)),
  // Aurora Data API store (set by the CDK constructs on AWS); all three or none.
  DB_CLUSTER_ARN: optionalText((s) =>
    s.regex(/^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:.+$/, 'must be an Aurora cluster ARN'),
  ),
  DB_SECRET_ARN: optionalText((s) =>
    s.regex(
      /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/,
      'must be a Secrets Manager secret ARN',
    ),
  ),
  DB_NAME: optionalText(),
  LLM_PROVIDER: withDefault('scripted', () => z.enum(LLM_PROVIDERS)),
  LLM_MODEL: optionalText(),
  OPENAI_BASE_URL: withDefault('https://api.openai.com/v1', () => z.url()),
  OPENAI_API_KEY: optionalText(),
  ANTHROPIC_BASE_URL: withDefault('https://api.anthropic.com', () => z.url()),
  ANTHROPIC_API_KEY: optionalText(),
  /** On AWS: Secrets Manager secret holding the provider API key (raw string or JSON {"apiKey": "…"}). */
  LLM_SECRET_ARN: optionalText(),
  LLM_SCRIPT_FILE: optionalText(),
  LLM_TIMEOUT_MS: withDefault(120_000, () => z.coerce.number().int().min(100).max(900_000)),
  LLM_MAX_OUTPUT_TOKENS: withDefault(1024, () => z.coerce.number().int().min(1).max(200_000)),
  WFLO_PRICES_FILE: optionalText(),
  WFLO_STATEMACHINES_DIR: withDefault('statemachines', () => z.string().trim().min(1)),
  WFLO_PORT: withDefault(3000, () => z.coerce.number().int().min(0).max(65535)),
  WFLO_HOST: withDefault('127.0.0.1', () => z.string().trim().min(1)),
  /** Bearer token every request to `wflo dev` must carry (generated at start with --allow-remote when unset). */
  WFLO_API_TOKEN: optionalText((s) => s.min(16, 'must be at least 16 characters')),
  /** Executions `wflo dev` runs at once; a start beyond them gets 429 with Retry-After. */
  WFLO_MAX_RUNS_IN_FLIGHT: withDefault(32, () => z.coerce.number().int().min(1).max(10_000)),
  /** Embedded engine on a shared PostgreSQL: how long a process's claim on a run holds without renewal. */
  WFLO_LEASE_SECONDS: withDefault(15, () => z.coerce.number().min(1).max(3_600)),
  /** Redis/Valkey for the response cache (`redis://` or `rediss://`); the store's table when unset. */
  REDIS_URL: optionalText((s) => s.regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')),
  /** ElastiCache Serverless (set by the CDK constructs): endpoint, port, TLS, IAM user and cache name. */
  VALKEY_ENDPOINT: optionalText(),
  VALKEY_PORT: withDefault(6379, () => z.coerce.number().int().min(1).max(65535)),
  VALKEY_TLS: withDefault('true', () => z.enum(['true', 'false'])),
  VALKEY_AUTH: withDefault('none', () => z.enum(['iam', 'none'])),
  VALKEY_USER: optionalText(),
  VALKEY_CACHE_NAME: optionalText(),
  AWS_REGION: optionalText(),
  CACHE_TTL_SECONDS: withDefault(86_400, () => z.coerce.number().int().min(1).max(31_536_000)),
  CACHE_TIMEOUT_MS: withDefault(250, () => z.coerce.number().int().min(10).max(10_000)),
  /** On AWS: JSON object workflow name → state machine ARN (set by the API stack). */
  WORKFLOW_STATE_MACHINES: optionalText(),
  /** On AWS: the artifacts bucket (set by the CDK's bindArtifacts); a local directory when unset. */
  ARTIFACTS_BUCKET: optionalText((s) =>
    s.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
  ),
  /** Local artifacts directory. @default `${WFLO_DATA_DIR}/artifacts` (a per-user temp dir for memory://) */
  WFLO_ARTIFACTS_DIR: optionalText(),
  /** Run sandboxed code WITHOUT bubblewrap when it is missing (trusted code only; `--unsafe-local-sandbox`). */
  SANDBOX_UNSAFE_LOCAL: withDefault('false', () => z.enum(['true', 'false', '1', '0'])),
  /** Size of one sandbox task (Fargate CPU units and MiB), for its compute cost where the task does not say. */
  SANDBOX_CPU: withDefault(512, () => z.coerce.number().int().min(256).max(16_384)),
  SANDBOX_MEMORY_MIB: withDefault(1024, () => z.coerce.number().int().min(512).max(122_880)),
  /** Local sandboxes running at once; more wait in order. @default os.availableParallelism() */
  SANDBOX_MAX_CONCURRENT: optional(() => z.coerce.number().int().min(1).max(1024)),
  /** On AWS: the SNS topic approval requests are announced on (set by the CDK); none locally. */
  APPROVALS_TOPIC_ARN: snsTopicArn(),
  /** On AWS: the DynamoDB approvals table (set by the CDK's bindApprovals); the store's table when unset. */
  APPROVALS_TABLE: optionalText((s) => s.regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name')),
  /** Embedded: who decides approvals from this machine's API and CLI. @default the OS user name */
  WFLO_USER: optionalText(),
  /** Embedded: the roles WFLO_USER acts in, comma-separated. @default none */
  WFLO_USER_ROLES: optionalText(),
  WFLO_DEFAULT_BUDGET_USD: optionalText((s) => s.regex(/^\d+(\.\d{1,6})?$/)),
  /** Kafka bootstrap brokers (`host:port,…`): the outbox is relayed there when set; off (SSE reads the outbox) when not. */
  KAFKA_BROKERS: optionalText(),
  /** `iam`: SASL OAUTHBEARER with an MSK IAM token (MSK Serverless, TLS); `none`: plaintext (a local broker). */
  KAFKA_AUTH: withDefault('none', () => z.enum(['none', 'iam'])),
  /** On AWS: the SNS topic the run notifier (a Kafka consumer) announces run ends on (set by the CDK). */
  RUN_NOTIFICATIONS_TOPIC_ARN: snsTopicArn(),
} satisfies Record<ConfigEnvKey, EnvField>;

/** The environment as read: each variable's parsed value, or its `unset` value. */
type Env = { [K in keyof typeof ENV_FIELDS]: (typeof ENV_FIELDS)[K] extends EnvField<infer T> ? T : never };

/** Parses each set variable through its schema; names every bad variable at once. */
function readEnv(env: Record<string, string | undefined>): Env {
  const values: Record<string, unknown> = {};
  const issues: string[] = [];
  for (const [key, field] of Object.entries(ENV_FIELDS) as [string, EnvField][]) {
    const raw = env[key];
    if (raw === undefined || (field.blankIsUnset && raw.trim() === '')) {
      values[key] = field.unset;
      continue;
    }
    const parsed = field.schema().safeParse(raw);
    if (parsed.success) values[key] = parsed.data;
    else for (const i of parsed.error.issues) issues.push(`${[key, ...i.path].join('.')}: ${i.message}`);
  }
  if (issues.length > 0) throw new ConfigError(`invalid configuration: ${issues.join('; ')}`);
  return values as Env;
}

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
  const e = readEnv(env);
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

function kafkaConfig(e: Env): Config['kafka'] {
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

/** Built on first use, like the variables' schemas: only a process with WORKFLOW_STATE_MACHINES set needs it. */
const stateMachinesSchema = () =>
  z.record(
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
  const parsed = stateMachinesSchema().safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (i) => `WORKFLOW_STATE_MACHINES.${i.path.join('.')}: ${i.message}`,
    );
    throw new ConfigError(`invalid configuration: ${issues.join('; ')}`);
  }
  return parsed.data;
}

function cacheTarget(e: Env): Config['cache']['target'] {
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
