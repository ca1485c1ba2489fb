import type { TokenUsage } from '../pricing/pricing.ts';

export interface ChatMessage {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

/** A provider-neutral request; each adapter maps it to its own protocol. */
export interface LlmRequest {
  readonly model: string;
  readonly system?: string | undefined;
  readonly messages: readonly ChatMessage[];
  readonly maxTokens: number;
  readonly temperature?: number | undefined;
  /** `$$.State.RetryCount` of the calling step; only the scripted provider uses it (to script transient faults). */
  readonly attempt?: number;
}

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'content_filter';

/** A provider-neutral response with token usage. */
export interface LlmResponse {
  readonly text: string;
  readonly stopReason: StopReason;
  readonly usage: TokenUsage;
  /** Model id as the provider reported it. */
  readonly model: string;
  /** Set when the provider left token counts out and `usage` is the reserved worst case instead. */
  readonly usageEstimated?: true;
}

/**
 * The LLM provider port. Adapters throw `LlmProviderError` for failures a retry can fix (408/409/429,
 * 5xx, network, reset, timeout, the caller's deadline, a body that is not JSON) and
 * `LlmRequestInvalidError` for the rest of 4xx; nothing else (see `ensureProviderError`).
 */
export interface LlmProvider {
  /** Provider id, the first half of a price-table key (`openai/gpt-4o-mini`). */
  readonly id: string;
  complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmResponse>;
  /** Price-table key `provider/model` this provider's model is billed as. */
  pricingKey(model: string): { provider: string; model: string };
}
