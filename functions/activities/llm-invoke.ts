import { invokeLlm, LlmInvokeInputSchema } from '#shared/activities/llm-invoke';
import { activityHandler } from '#shared/middleware/activity';
import { metrics } from '#shared/observability';

/**
 * Lambda: one model call with pricing, budget check and a ledger row (see functions/shared/activities/llm-invoke.ts);
 * the call is aborted shortly before the function's deadline.
 */
export const handler = activityHandler('llm-invoke', LlmInvokeInputSchema, (rt, step, input, { signal }) =>
  invokeLlm(
    {
      store: rt.store,
      prices: rt.prices,
      providers: rt.providers,
      cache: rt.cache,
      metrics,
      defaults: {
        provider: rt.config.llm.defaultProvider,
        model: rt.config.llm.defaultModel,
        maxTokens: rt.config.llm.maxOutputTokens,
        cacheTtlSeconds: rt.config.cache.ttlSeconds,
      },
    },
    step,
    input,
    { signal },
  ),
);
