import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../config.ts';
import type { LlmProvider } from '../llm/types.ts';
import type { ResponseCache } from '../ports/cache.ts';
import type { PriceTable } from '../pricing/pricing.ts';
import { getConfig } from './config.ts';
import { lazyPart } from './lazy.ts';
import { createCache, createProviders, loadPrices, withSecretApiKey } from './llm-parts.ts';
import { getLambdaDb } from './store.ts';

export { createCache, createProviders, loadPrices, withSecretApiKey } from './llm-parts.ts';

/** What a model call needs besides the store. */
export interface LlmParts {
  /** The config with the provider API key from Secrets Manager applied. */
  readonly config: Config;
  readonly prices: PriceTable;
  readonly providers: ReadonlyMap<string, LlmProvider>;
  readonly cache: ResponseCache;
}

/** The process's model-call parts (or the installed runtime's): secret, prices, providers, response cache. */
export const getLlm: () => Promise<LlmParts> = lazyPart(
  (rt) => ({ config: rt.config, prices: rt.prices, providers: rt.providers, cache: rt.cache }),
  async () => {
    const base = await getConfig();
    const config = base.llm.secretArn ? await withSecretApiKey(base, new SecretsManagerClient({})) : base;
    const providers = createProviders(config);
    const prices = loadPrices(config, providers);
    const cache = createCache(config, (await getLambdaDb()).db);
    return { config, prices, providers, cache };
  },
);
