/**
 * Every LLM provider wflo can call: the ids `LLM_PROVIDER` accepts, a step's `model.provider` names and
 * the adapters report as `id`. The one list; config, the llm-invoke schema, the runtime's wiring and the
 * CDK context validation read it from here.
 */
export const LLM_PROVIDERS = ['scripted', 'openai-compatible', 'anthropic', 'bedrock'] as const;

/** One of `LLM_PROVIDERS`. */
export type LlmProviderId = (typeof LLM_PROVIDERS)[number];

/** Providers that authenticate with an API key (kept in Secrets Manager on AWS, see DEPLOYMENT.md). */
export const KEYED_PROVIDERS: readonly LlmProviderId[] = ['openai-compatible', 'anthropic'];

/** True when `id` names a provider wflo has. */
export function isLlmProviderId(id: string): id is LlmProviderId {
  return (LLM_PROVIDERS as readonly string[]).includes(id);
}
