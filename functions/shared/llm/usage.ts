import type { TokenUsage } from '../pricing/pricing.ts';
import { worstCaseInputTokens } from './tokens.ts';
import type { LlmRequest, LlmResponse } from './types.ts';

/** A token count as a provider reported it: a non-negative integer, or undefined when absent or unusable. */
export function tokenCount(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
}

/** Usage as an adapter read it, already in `TokenUsage` terms; undefined where the reply said nothing usable. */
export interface ReportedUsage {
  readonly inputTokens: number | undefined;
  readonly outputTokens: number | undefined;
  readonly cachedInputTokens?: number | undefined;
  readonly cacheWriteInputTokens?: number | undefined;
}

/**
 * The usage a reply is charged at. A count the provider did not report (some self-hosted servers leave
 * usage out) is not taken as 0, which would let a budget be spent without limit: it is the bound
 * llm-invoke reserved before the call, `worstCaseInputTokens` for input (with nothing cached) and
 * `maxTokens` for output, and the response says `usageEstimated`. Cached counts are clamped to the input
 * count, as the price arithmetic requires.
 */
export function settleUsage(
  request: Pick<LlmRequest, 'system' | 'messages' | 'maxTokens'>,
  reported: ReportedUsage,
): Pick<LlmResponse, 'usage' | 'usageEstimated'> {
  const estimated = reported.inputTokens === undefined || reported.outputTokens === undefined;
  const outputTokens = reported.outputTokens ?? request.maxTokens;
  if (reported.inputTokens === undefined) {
    const inputTokens = worstCaseInputTokens(request.system, request.messages);
    return { usage: { inputTokens, outputTokens, cachedInputTokens: 0 }, usageEstimated: true };
  }
  const inputTokens = reported.inputTokens;
  const cachedInputTokens = Math.min(reported.cachedInputTokens ?? 0, inputTokens);
  const cacheWrite = Math.min(reported.cacheWriteInputTokens ?? 0, inputTokens - cachedInputTokens);
  const usage: TokenUsage = {
    inputTokens,
    outputTokens,
    cachedInputTokens,
    ...(cacheWrite > 0 ? { cacheWriteInputTokens: cacheWrite } : {}),
  };
  return estimated ? { usage, usageEstimated: true } : { usage };
}
