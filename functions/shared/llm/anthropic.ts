import { LlmProviderError } from '../errors.ts';
import { postJson } from './http-core.ts';
import type { LlmProviderId } from './providers.ts';
import type { LlmProvider, LlmRequest, LlmResponse, StopReason } from './types.ts';
import { settleUsage, tokenCount } from './usage.ts';

export interface AnthropicOptions {
  /** https://api.anthropic.com, or a compatible gateway; without the `/v1` suffix. */
  readonly baseUrl: string;
  /** Sent as `x-api-key`; omitted when unset (a gateway may hold the key). */
  readonly apiKey?: string | undefined;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch;
}

/** The Messages API version this adapter speaks. */
export const ANTHROPIC_VERSION = '2023-06-01';

interface MessagesResponse {
  model?: string;
  content?: { type?: string; text?: string }[];
  stop_reason?: string | null;
  usage?: {
    input_tokens?: unknown;
    output_tokens?: unknown;
    cache_read_input_tokens?: unknown;
    cache_creation_input_tokens?: unknown;
  };
}

const STOP_REASONS: Record<string, StopReason> = {
  end_turn: 'end_turn',
  max_tokens: 'max_tokens',
  model_context_window_exceeded: 'max_tokens',
  stop_sequence: 'stop_sequence',
  tool_use: 'tool_use',
  refusal: 'content_filter',
  // A server tool paused a long turn; without tools there is nothing to resume, so the turn is over.
  pause_turn: 'end_turn',
};

/**
 * Anthropic Messages API adapter over HTTP. Usage is normalized so `cachedInputTokens` is a subset of
 * `inputTokens`: Anthropic's `input_tokens` excludes cache reads and cache writes, so both are added back
 * (cache writes are billed at the input price).
 * @example new AnthropicProvider({ baseUrl: 'https://api.anthropic.com', apiKey: key, timeoutMs: 120_000 })
 */
export class AnthropicProvider implements LlmProvider {
  readonly id: LlmProviderId = 'anthropic';
  readonly #options: AnthropicOptions;

  constructor(options: AnthropicOptions) {
    this.#options = options;
  }

  pricingKey(model: string) {
    return { provider: 'anthropic', model };
  }

  complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmResponse> {
    const { baseUrl, apiKey, timeoutMs, fetch } = this.#options;
    return postJson(
      {
        provider: this.id,
        url: `${baseUrl}/v1/messages`,
        headers: {
          'anthropic-version': ANTHROPIC_VERSION,
          ...(apiKey ? { 'x-api-key': apiKey } : {}),
        },
        body: {
          model: request.model,
          max_tokens: request.maxTokens,
          ...(request.system ? { system: request.system } : {}),
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        },
        timeoutMs,
        signal,
        fetch,
      },
      // 529 (overloaded) is >= 500, so the core treats it as retryable like 429 and 500.
      (json, status) => toResponse(request, json as MessagesResponse, status),
    );
  }
}

/** Maps a Messages reply to the provider-neutral response. */
function toResponse(request: LlmRequest, reply: MessagesResponse, status: number): LlmResponse {
  if (!Array.isArray(reply.content)) throw new LlmProviderError('anthropic returned no content', status);
  const input = tokenCount(reply.usage?.input_tokens);
  const cacheRead = tokenCount(reply.usage?.cache_read_input_tokens) ?? 0;
  const cacheWrite = tokenCount(reply.usage?.cache_creation_input_tokens) ?? 0;
  return {
    text: reply.content
      .filter((block) => block?.type === 'text')
      .map((block) => block.text ?? '')
      .join(''),
    stopReason: STOP_REASONS[reply.stop_reason ?? 'end_turn'] ?? 'end_turn',
    model: reply.model ?? request.model,
    // input_tokens leaves out cache reads and writes; both are billed as input, so they are added back.
    ...settleUsage(request, {
      inputTokens: input === undefined ? undefined : input + cacheRead + cacheWrite,
      outputTokens: tokenCount(reply.usage?.output_tokens),
      cachedInputTokens: cacheRead,
      cacheWriteInputTokens: cacheWrite,
    }),
  };
}
