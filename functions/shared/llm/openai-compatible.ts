import { LlmProviderError } from '../errors.ts';
import { postJson } from './http-core.ts';
import type { LlmProviderId } from './providers.ts';
import type { LlmProvider, LlmRequest, LlmResponse, StopReason } from './types.ts';
import { settleUsage, tokenCount } from './usage.ts';

export interface OpenAiCompatibleOptions {
  /** e.g. https://api.openai.com/v1, http://localhost:11434/v1 (Ollama), http://host:8000/v1 (vLLM). */
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
  readonly timeoutMs: number;
  /** Provider id used for pricing: `openai` for api.openai.com, `ollama`/`vllm` for self-hosted. */
  readonly pricingProvider?: string;
  readonly fetch?: typeof fetch;
}

interface ChatCompletion {
  model?: string;
  choices?: { message?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown };
  };
}

const FINISH_REASONS: Record<string, StopReason> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'content_filter',
};

/** Guesses the pricing provider from the base URL: OpenAI's own API, or self-hosted (priced $0/token). */
export function pricingProviderFor(baseUrl: string): string {
  // Ollama's default port means a self-hosted model (priced `ollama/*`, $0 per token); anything else is
  // priced as OpenAI's model of that name, and an unknown name is refused rather than priced at $0.
  return new URL(baseUrl).port === '11434' ? 'ollama' : 'openai';
}

/**
 * OpenAI Chat Completions protocol adapter; covers OpenAI, Ollama, vLLM and other compatible servers.
 * @example new OpenAiCompatibleProvider({ baseUrl: 'http://localhost:11434/v1', timeoutMs: 60000, pricingProvider: 'ollama' })
 */
export class OpenAiCompatibleProvider implements LlmProvider {
  readonly id: LlmProviderId = 'openai-compatible';
  readonly #options: OpenAiCompatibleOptions;
  readonly #pricingProvider: string;

  constructor(options: OpenAiCompatibleOptions) {
    this.#options = options;
    this.#pricingProvider = options.pricingProvider ?? pricingProviderFor(options.baseUrl);
  }

  pricingKey(model: string) {
    return { provider: this.#pricingProvider, model };
  }

  complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmResponse> {
    const { baseUrl, apiKey, timeoutMs, fetch } = this.#options;
    return postJson(
      {
        provider: this.id,
        url: `${baseUrl}/chat/completions`,
        headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
        body: {
          model: request.model,
          messages: [
            ...(request.system ? [{ role: 'system', content: request.system }] : []),
            ...request.messages.map((m) => ({ role: m.role, content: m.content })),
          ],
          max_tokens: request.maxTokens,
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          stream: false,
        },
        timeoutMs,
        signal,
        fetch,
      },
      (json, status) => toResponse(request, json as ChatCompletion, status),
    );
  }
}

/** Maps a Chat Completions reply to the provider-neutral response. */
function toResponse(request: LlmRequest, reply: ChatCompletion, status: number): LlmResponse {
  const choice = reply.choices?.[0];
  if (!choice?.message) throw new LlmProviderError('openai-compatible returned no choices', status);
  return {
    text: choice.message.content ?? '',
    stopReason: FINISH_REASONS[choice.finish_reason ?? 'stop'] ?? 'end_turn',
    model: reply.model ?? request.model,
    // prompt_tokens already includes the cached prefix.
    ...settleUsage(request, {
      inputTokens: tokenCount(reply.usage?.prompt_tokens),
      outputTokens: tokenCount(reply.usage?.completion_tokens),
      cachedInputTokens: tokenCount(reply.usage?.prompt_tokens_details?.cached_tokens),
    }),
  };
}
