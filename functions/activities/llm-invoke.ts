import { invokeLlm, LlmInvokeInputSchema } from '#shared/activities/llm-invoke';
import { activityHandler } from '#shared/middleware/activity';
import { metrics } from '#shared/observability';
import { getLlm } from '#shared/wiring/llm';
import { getStore } from '#shared/wiring/store';

/**
 * Lambda: one model call with pricing, budget check and a ledger row (see functions/shared/activities/llm-invoke.ts);
 * the call is aborted shortly before the function's deadline. Uses the store, the price table, the
 * providers (Bedrock, HTTP APIs), the response cache and the provider key from Secrets Manager.
 */
export const handler = activityHandler(
  'llm-invoke',
  LlmInvokeInputSchema,
  async () => ({ store: await getStore(), ...(await getLlm()) }),
  ({ store, prices, providers, cache, config }, step, input, { signal }) =>
    invokeLlm(
      {
        store,
        prices,
        providers,
        cache,
        metrics,
        defaults: {
          provider: config.llm.defaultProvider,
          model: config.llm.defaultModel,
          maxTokens: config.llm.maxOutputTokens,
          cacheTtlSeconds: config.cache.ttlSeconds,
        },
      },
      step,
      input,
      { signal },
    ),
);
