/*
 * Environment variable names: the contract between `loadConfig` (functions/shared/config.ts, the reader)
 * and the CDK bindings in infra/ (the writers). Both sides name keys through these types, so a renamed or
 * misspelt key fails `tsc` on the side that did not follow. Imported by Lambda bundles: no dependencies.
 */

/** Every variable `loadConfig` reads (its schema must validate exactly these). */
export const CONFIG_ENV_KEYS = [
  'WFLO_DATA_DIR',
  'DATABASE_URL',
  'DATABASE_POOL_SIZE',
  'DB_CLUSTER_ARN',
  'DB_SECRET_ARN',
  'DB_NAME',
  'LLM_PROVIDER',
  'LLM_MODEL',
  'OPENAI_BASE_URL',
  'OPENAI_API_KEY',
  'ANTHROPIC_BASE_URL',
  'ANTHROPIC_API_KEY',
  'LLM_SECRET_ARN',
  'LLM_SCRIPT_FILE',
  'LLM_TIMEOUT_MS',
  'LLM_MAX_OUTPUT_TOKENS',
  'WFLO_PRICES_FILE',
  'WFLO_STATEMACHINES_DIR',
  'WFLO_PORT',
  'WFLO_HOST',
  'REDIS_URL',
  'VALKEY_ENDPOINT',
  'VALKEY_PORT',
  'VALKEY_TLS',
  'VALKEY_AUTH',
  'VALKEY_USER',
  'VALKEY_CACHE_NAME',
  'AWS_REGION',
  'CACHE_TTL_SECONDS',
  'CACHE_TIMEOUT_MS',
  'WORKFLOW_STATE_MACHINES',
  'ARTIFACTS_BUCKET',
  'WFLO_ARTIFACTS_DIR',
  'SANDBOX_UNSAFE_LOCAL',
  'SANDBOX_CPU',
  'SANDBOX_MEMORY_MIB',
  'WFLO_DEFAULT_BUDGET_USD',
  'SANDBOX_MAX_CONCURRENT',
  'WFLO_API_TOKEN',
  'WFLO_MAX_RUNS_IN_FLIGHT',
  'WFLO_LEASE_SECONDS',
  'APPROVALS_TOPIC_ARN',
  'APPROVALS_TABLE',
  'WFLO_USER',
  'WFLO_USER_ROLES',
  'KAFKA_BROKERS',
  'KAFKA_AUTH',
  'RUN_NOTIFICATIONS_TOPIC_ARN',
] as const;
export type ConfigEnvKey = (typeof CONFIG_ENV_KEYS)[number];

/** Set by `KafkaEvents.bindProducer` next to KAFKA_BROKERS; the topics are fixed (functions/shared/events/kafka.ts). */
export const KAFKA_ENV_KEYS = ['KAFKA_TOPIC'] as const;

/** A variable wflo's own code reads (and so the only kind the CDK may bind on a wflo function). */
export type EnvKey = ConfigEnvKey | (typeof KAFKA_ENV_KEYS)[number];

/** The keys by name (`ENV.DB_NAME`), for the writers. */
export const ENV = Object.fromEntries([...CONFIG_ENV_KEYS, ...KAFKA_ENV_KEYS].map((k) => [k, k])) as {
  readonly [K in EnvKey]: K;
};

/** The environment a binding writes: only contract keys. */
export type EnvBindings = Readonly<Partial<Record<EnvKey, string>>>;
