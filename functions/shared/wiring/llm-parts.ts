import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { redisCache } from '../adapters/redis-cache.ts';
import { storeCache } from '../adapters/store-cache.ts';
import { failOpen } from '../cache.ts';
import type { Config } from '../config.ts';
import { METRICS } from '../contracts/metrics.ts';
import type { WfloDb } from '../db/connection.ts';
import { ConfigError } from '../errors.ts';
import { AnthropicProvider } from '../llm/anthropic.ts';
import { BedrockProvider } from '../llm/bedrock.ts';
import { OpenAiCompatibleProvider } from '../llm/openai-compatible.ts';
import { bundledScripts, loadScriptFile, ScriptedProvider } from '../llm/scripted.ts';
import type { LlmProvider } from '../llm/types.ts';
import { throttle } from '../log-throttle.ts';
import { logger, metrics } from '../observability.ts';
import type { ResponseCache } from '../ports/cache.ts';
import { PriceTable } from '../pricing/pricing.ts';

// The model-call adapters' factories, shared by the Lambda wiring (llm.ts) and the local runtime
// (infra/local/engine/wiring.ts); no store driver is imported here.

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

const CACHE_WARNING_INTERVAL_MS = 10_000;

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
  // An outage fails every call: warned when it starts and then at most every 10 s (the metric counts all).
  const warn = throttle(CACHE_WARNING_INTERVAL_MS);
  return failOpen(cache, {
    timeoutMs: config.cache.timeoutMs,
    onError: (operation, error) => {
      warn((suppressed) =>
        logger.warn('response cache unavailable; continuing without it', {
          operation,
          error: error as Error,
          ...(suppressed > 0 ? { similarSincePrevious: suppressed } : {}),
        }),
      );
      metrics.addMetric(METRICS.CacheErrors, MetricUnit.Count, 1);
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

/** Loads the price table and fails when the default model has no price (a start-up error, not a surprise on the first call). */
export function loadPrices(config: Config, providers: ReadonlyMap<string, LlmProvider>): PriceTable {
  const prices = PriceTable.load(config.pricesFile);
  const defaultProvider = providers.get(config.llm.defaultProvider);
  if (defaultProvider) {
    const key = defaultProvider.pricingKey(config.llm.defaultModel);
    prices.priceOf(key.provider, key.model);
  }
  return prices;
}
