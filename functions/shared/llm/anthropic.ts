import { LlmProviderError } from '../errors.ts';
import { errorForStatus } from './errors.ts';
import type { LlmProvider, LlmRequest, LlmResponse, StopReason } from './types.ts';

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
    input_tokens?: number;
    output_tokens?: number;
    cache_read_input_tokens?: number | null;
    cache_creation_input_tokens?: number | null;
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
  readonly id = 'anthropic';
  readonly #options: AnthropicOptions;

  constructor(options: AnthropicOptions) {
    this.#options = options;
  }

  pricingKey(model: string) {
    return { provider: 'anthropic', model };
  }

  async complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmResponse> {
    const doFetch = this.#options.fetch ?? fetch;
    const timeout = AbortSignal.timeout(this.#options.timeoutMs);
    let response: Response;
    let body: string;
    try {
      response = await doFetch(`${this.#options.baseUrl}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'anthropic-version': ANTHROPIC_VERSION,
          ...(this.#options.apiKey ? { 'x-api-key': this.#options.apiKey } : {}),
        },
        body: JSON.stringify({
          model: request.model,
          max_tokens: request.maxTokens,
          ...(request.system ? { system: request.system } : {}),
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      // Read inside the try: the timeout can also fire while the body is still arriving.
      body = await response.text();
    } catch (cause) {
      const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
      throw new LlmProviderError(
        `anthropic request to ${this.#options.baseUrl} failed: ${reason}`,
        undefined,
        {
          cause,
        },
      );
    }
    // 529 (overloaded) is >= 500, so it is retryable like 429 and 500.
    if (!response.ok) throw errorForStatus('anthropic', response.status, body);
    let parsed: MessagesResponse;
    try {
      parsed = JSON.parse(body) as MessagesResponse;
    } catch (cause) {
      throw new LlmProviderError('anthropic returned a body that is not JSON', response.status, { cause });
    }
    if (!Array.isArray(parsed.content)) {
      throw new LlmProviderError('anthropic returned no content', response.status);
    }
    const cacheRead = parsed.usage?.cache_read_input_tokens ?? 0;
    const cacheWrite = parsed.usage?.cache_creation_input_tokens ?? 0;
    return {
      text: parsed.content
        .filter((block) => block.type === 'text')
        .map((block) => block.text ?? '')
        .join(''),
      stopReason: STOP_REASONS[parsed.stop_reason ?? 'end_turn'] ?? 'end_turn',
      model: parsed.model ?? request.model,
      usage: {
        inputTokens: (parsed.usage?.input_tokens ?? 0) + cacheRead + cacheWrite,
        outputTokens: parsed.usage?.output_tokens ?? 0,
        cachedInputTokens: cacheRead,
        ...(cacheWrite > 0 ? { cacheWriteInputTokens: cacheWrite } : {}),
      },
    };
  }
}
