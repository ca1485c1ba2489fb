import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LocalArtifacts } from './adapters/local-artifacts.ts';
import { redisCache } from './adapters/redis-cache.ts';
import { S3Artifacts } from './adapters/s3-artifacts.ts';
import { storeCache } from './adapters/store-cache.ts';
import { failOpen } from './cache.ts';
import { type Config, loadConfig } from './config.ts';
import { openDb, type WfloDb } from './db/client.ts';
import { ConfigError } from './errors.ts';
import { AnthropicProvider } from './llm/anthropic.ts';
import { BedrockProvider } from './llm/bedrock.ts';
import { OpenAiCompatibleProvider } from './llm/openai-compatible.ts';
import { bundledScripts, loadScriptFile, ScriptedProvider } from './llm/scripted.ts';
import type { LlmProvider } from './llm/types.ts';
import { logger, metrics } from './observability.ts';
import type { ArtifactStore } from './ports/artifacts.ts';
import type { ResponseCache } from './ports/cache.ts';
import { PriceTable } from './pricing/pricing.ts';
import { createStore, type Store } from './store.ts';

/** Everything a handler needs, built once per process from {@link loadConfig}. */
export interface Runtime {
  readonly config: Config;
  readonly store: Store;
  readonly prices: PriceTable;
  /** Providers by id (`scripted`, `openai-compatible`, `bedrock`, `anthropic`). */
  readonly providers: ReadonlyMap<string, LlmProvider>;
  /** Response cache (already wrapped to fail open). */
  readonly cache: ResponseCache;
  /** Sandbox code and results: S3 on AWS, a directory locally. */
  readonly artifacts: ArtifactStore;
  close(): Promise<void>;
}

/** Builds the providers the config enables. The scripted provider is always available (offline demos, tests). */
export function createProviders(config: Config): Map<string, LlmProvider> {
  const scripts = bundledScripts();
  if (config.llm.scriptFile) scripts.push(loadScriptFile(config.llm.scriptFile));
  const providers = new Map<string, LlmProvider>([['scripted', new ScriptedProvider(scripts)]]);
  providers.set(
    'openai-compatible',
    new OpenAiCompatibleProvider({
      baseUrl: config.llm.openai.baseUrl,
      apiKey: config.llm.openai.apiKey,
      timeoutMs: config.llm.timeoutMs,
    }),
  );
  providers.set(
    'bedrock',
    new BedrockProvider({
      // Region and credentials from the AWS defaults (AWS_REGION, the Lambda role, a local profile), resolved
      // on first call. One attempt: the ASL Retry is the retry policy, visible in the step rows.
      client: new BedrockRuntimeClient({ maxAttempts: 1 }),
      timeoutMs: config.llm.timeoutMs,
    }),
  );
  providers.set(
    'anthropic',
    new AnthropicProvider({
      baseUrl: config.llm.anthropic.baseUrl,
      apiKey: config.llm.anthropic.apiKey,
      timeoutMs: config.llm.timeoutMs,
    }),
  );
  return providers;
}

/** The response cache the config selects, wrapped so its failures never fail a call. */
export function createCache(config: Config, db: WfloDb): ResponseCache {
  const t = config.cache.target;
  const cache =
    t.kind === 'store'
      ? storeCache(db)
      : t.kind === 'redis-url'
        ? redisCache({ kind: 'url', url: t.url }, { commandTimeoutMs: config.cache.timeoutMs })
        : redisCache(
            { kind: 'elasticache', host: t.host, port: t.port, tls: t.tls, ...(t.iam ? { iam: t.iam } : {}) },
            { commandTimeoutMs: config.cache.timeoutMs },
          );
  return failOpen(cache, {
    timeoutMs: config.cache.timeoutMs,
    onError: (operation, error) => {
      logger.warn('response cache unavailable; continuing without it', { operation, error: error as Error });
      metrics.addMetric('CacheErrors', MetricUnit.Count, 1);
    },
  });
}

/**
 * Reads the provider API key from Secrets Manager (once per container) into the config: the secret is a
 * raw key or JSON with `apiKey`. It goes to the default provider (OpenAI-compatible or Anthropic).
 */
export async function withSecretApiKey(
  config: Config,
  client: Pick<SecretsManagerClient, 'send'>,
): Promise<Config> {
  if (!config.llm.secretArn) return config;
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: config.llm.secretArn }));
  if (!SecretString) throw new ConfigError(`LLM_SECRET_ARN ${config.llm.secretArn} has no string value`);
  let apiKey = SecretString.trim();
  if (apiKey.startsWith('{')) {
    const parsed = JSON.parse(apiKey) as { apiKey?: unknown };
    if (typeof parsed.apiKey !== 'string' || !parsed.apiKey) {
      throw new ConfigError(`LLM_SECRET_ARN ${config.llm.secretArn}: JSON secret needs a non-empty "apiKey"`);
    }
    apiKey = parsed.apiKey;
  }
  const llm = config.llm;
  return {
    ...config,
    llm: {
      ...llm,
      openai: llm.defaultProvider === 'openai-compatible' ? { ...llm.openai, apiKey } : llm.openai,
      anthropic: llm.defaultProvider === 'anthropic' ? { ...llm.anthropic, apiKey } : llm.anthropic,
    },
  };
}

/** The artifact store the config selects (nothing is touched until it is used). */
export function createArtifacts(config: Config): ArtifactStore {
  return config.artifacts.kind === 's3'
    ? new S3Artifacts({ client: new S3Client({}), bucket: config.artifacts.bucket })
    : new LocalArtifacts(config.artifacts.dir);
}

/** Opens the store and builds the adapters for a config. */
export async function createRuntime(configIn: Config): Promise<Runtime> {
  const config = configIn.llm.secretArn
    ? await withSecretApiKey(configIn, new SecretsManagerClient({}))
    : configIn;
  const prices = PriceTable.load(config.pricesFile);
  // An unpriced default model is a start-up error, not a surprise on the first call.
  const providers = createProviders(config);
  const defaultProvider = providers.get(config.llm.defaultProvider);
  if (defaultProvider) {
    const key = defaultProvider.pricingKey(config.llm.defaultModel);
    prices.priceOf(key.provider, key.model);
  }
  const conn = await openDb(config.store);
  const store = createStore(conn);
  const cache = createCache(config, conn.db);
  return {
    config,
    store,
    prices,
    providers,
    cache,
    artifacts: createArtifacts(config),
    close: async () => {
      await cache.close();
      await store.close();
    },
  };
}

let current: Promise<Runtime> | undefined;

/** The process-wide runtime (lazily created from the environment on first use; reused across Lambda invocations). */
export function getRuntime(): Promise<Runtime> {
  current ??= createRuntime(loadConfig());
  return current;
}

/** Installs a runtime built elsewhere (the local runner and tests), so handlers share its store. */
export function setRuntime(runtime: Runtime | Promise<Runtime>): void {
  current = Promise.resolve(runtime);
}

/** Closes and forgets the process-wide runtime. */
export async function closeRuntime(): Promise<void> {
  const r = current;
  current = undefined;
  if (r) await (await r).close();
}
