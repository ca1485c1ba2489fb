import type { ChatMessage } from './types.ts';

/** Chat formatting adds a few tokens per message (role markers, separators); 8 bounds every provider we price. */
export const MESSAGE_OVERHEAD_TOKENS = 8;
/** Fixed per-request overhead (priming, system wrapper). */
export const REQUEST_OVERHEAD_TOKENS = 16;

/**
 * A conservative upper bound on a request's input tokens, used to reserve budget before a call.
 * The tokenizers of the models wflo prices (byte-level BPE: OpenAI, Anthropic, Llama 3, Nova; SentencePiece
 * with byte fallback) never produce more tokens than UTF-8 bytes, so bytes + per-message overhead bounds
 * the count from above; it over-reserves by ~4× for English, and the difference returns at settlement.
 */
export function worstCaseInputTokens(system: string | undefined, messages: readonly ChatMessage[]): number {
  let bytes = system ? Buffer.byteLength(system, 'utf8') + MESSAGE_OVERHEAD_TOKENS : 0;
  for (const m of messages) bytes += Buffer.byteLength(m.content, 'utf8') + MESSAGE_OVERHEAD_TOKENS;
  return bytes + REQUEST_OVERHEAD_TOKENS;
}
