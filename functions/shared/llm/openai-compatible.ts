import { LlmProviderError } from '../errors.ts';
import { errorForStatus } from './errors.ts';
import type { LlmProvider, LlmRequest, LlmResponse, StopReason } from './types.ts';

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
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number };
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
  readonly id = 'openai-compatible';
  readonly #options: OpenAiCompatibleOptions;
  readonly #pricingProvider: string;

  constructor(options: OpenAiCompatibleOptions) {
    this.#options = options;
    this.#pricingProvider = options.pricingProvider ?? pricingProviderFor(options.baseUrl);
  }

  pricingKey(model: string) {
    return { provider: this.#pricingProvider, model };
  }

  async complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmResponse> {
    const doFetch = this.#options.fetch ?? fetch;
    const messages = [
      ...(request.system ? [{ role: 'system', content: request.system }] : []),
      ...request.messages.map((m) => ({ role: m.role, content: m.content })),
    ];
    const timeout = AbortSignal.timeout(this.#options.timeoutMs);
    let response: Response;
    try {
      response = await doFetch(`${this.#options.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.#options.apiKey ? { authorization: `Bearer ${this.#options.apiKey}` } : {}),
        },
        body: JSON.stringify({
          model: request.model,
          messages,
          max_tokens: request.maxTokens,
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          stream: false,
        }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (cause) {
      const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
      throw new LlmProviderError(
        `openai-compatible request to ${this.#options.baseUrl} failed: ${reason}`,
        undefined,
        {
          cause,
        },
      );
    }
    const body = await response.text();
    if (!response.ok) throw errorForStatus('openai-compatible', response.status, body);
    let parsed: ChatCompletion;
    try {
      parsed = JSON.parse(body) as ChatCompletion;
    } catch (cause) {
      throw new LlmProviderError('openai-compatible returned a body that is not JSON', response.status, {
        cause,
      });
    }
    const choice = parsed.choices?.[0];
    if (!choice?.message)
      throw new LlmProviderError('openai-compatible returned no choices', response.status);
    const inputTokens = parsed.usage?.prompt_tokens ?? 0;
    return {
      text: choice.message.content ?? '',
      stopReason: FINISH_REASONS[choice.finish_reason ?? 'stop'] ?? 'end_turn',
      model: parsed.model ?? request.model,
      usage: {
        inputTokens,
        outputTokens: parsed.usage?.completion_tokens ?? 0,
        cachedInputTokens: Math.min(parsed.usage?.prompt_tokens_details?.cached_tokens ?? 0, inputTokens),
      },
    };
  }
}
