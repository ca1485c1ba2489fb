import * as z from 'zod';
import { llmCacheKey } from '../cache.ts';
import { type CountMetrics, METRICS } from '../contracts/metrics.ts';
import { untilWritten } from '../db/retry.ts';
import { BudgetExceededError, LlmProviderError, LlmRequestInvalidError } from '../errors.ts';
import { EVENTS } from '../events/catalogue.ts';
import { type AgentDirective, parseDirective } from '../llm/directive.ts';
import { LLM_PROVIDERS } from '../llm/providers.ts';
import { worstCaseInputTokens } from '../llm/tokens.ts';
import type { ChatMessage, LlmProvider, StopReason } from '../llm/types.ts';
import { type Micros, microsToUsd } from '../money.ts';
import type { ResponseCache } from '../ports/cache.ts';
import type { Store } from '../ports/store.ts';
import { costOf, type PriceTable, type TokenUsage } from '../pricing/pricing.ts';
import type { StepInfo } from '../step-context.ts';

const MessageSchema = z.object({ role: z.enum(['user', 'assistant']), content: z.string() });

export const LlmInvokeInputSchema = z.object({
  context: z.unknown(),
  /** Provider and model; the configured default when null or absent. */
  model: z
    .object({
      provider: z.enum(LLM_PROVIDERS).optional(),
      name: z.string().min(1).optional(),
    })
    .nullish(),
  system: z.string().optional(),
  messages: z.array(MessageSchema).max(500).default([]),
  /** Appended to `messages` as a user turn. */
  prompt: z.string().min(1).optional(),
  maxTokens: z.number().int().min(1).max(200_000).optional(),
  temperature: z.number().min(0).max(2).optional(),
  /** Parse the reply for the agent-loop `NEXT:`/`FINAL:` directive. */
  parseDirective: z.boolean().default(false),
  /** Inside a Map: the iteration (`"item.$": "$.index"` from an ItemSelector with `$$.Map.Item.Index`). */
  item: z.union([z.string(), z.number()]).optional(),
  /**
   * Use the response cache. Default: only deterministic requests (temperature 0) are cached; `true` caches
   * this step whatever its temperature, `false` never.
   */
  cache: z.boolean().optional(),
});
export type LlmInvokeInput = z.infer<typeof LlmInvokeInputSchema>;

export interface LlmInvokeOutput {
  readonly text: string;
  readonly stopReason: StopReason;
  readonly directive: AgentDirective | null;
  /** The conversation including this turn, for the next step to continue. */
  readonly messages: ChatMessage[];
  readonly provider: string;
  readonly model: string;
  readonly usage: TokenUsage;
  /** What this step paid: 0 on a cache hit. */
  readonly costMicros: Micros;
  readonly costUsd: number;
  /** Served from the response cache; `savedMicros` is what the call would have cost. */
  readonly cached: boolean;
  readonly savedMicros: Micros;
}

export interface LlmInvokeDeps {
  readonly store: Store;
  readonly prices: PriceTable;
  readonly providers: ReadonlyMap<string, LlmProvider>;
  readonly cache: ResponseCache;
  readonly defaults: { provider: string; model: string; maxTokens: number; cacheTtlSeconds: number };
  /** Powertools Metrics (or anything with its addMetric) for CostMicros, LlmCalls, CacheHit/CacheMiss, BudgetExceeded. */
  readonly metrics?: CountMetrics;
  /** Waits between attempts to write a paid call's settlement while the store is unavailable (tests inject it). */
  readonly sleep?: (ms: number) => Promise<void>;
}

interface CachedResponse {
  readonly text: string;
  readonly stopReason: StopReason;
  readonly usage: TokenUsage;
}

/**
 * One model call as a workflow step:
 * 1. the result is kept under `step.resultKey` with the charge, so a retried invocation of the same state
 *    entry is answered from it by stepTracking (no second call, no second charge);
 * 2. provider and price are resolved first: an unknown model fails before anything is spent;
 * 3. a cacheable request served from the response cache costs $0 and records what it saved;
 * 4. otherwise the worst case (input bound + max output tokens) is reserved against the execution's budget
 *    in one SQL statement — `BudgetExceededError` if it does not fit — the call is made, and the reservation
 *    is settled with the actual usage (or released if the call failed), together with the ledger row, the
 *    `llm.called` event and the kept result. Usage above the worst case is charged as reported, and the
 *    store raises `budget.overrun` and holds nothing more for the run. A call abandoned at the client's
 *    timeout or the deadline is recorded as unconfirmed spend at its worst case (`confirmed: false`). `options.signal` (the invocation's deadline) aborts the call;
 *    an aborted call fails as a retryable LlmProviderError like any other failed call.
 */
export async function invokeLlm(
  deps: LlmInvokeDeps,
  step: StepInfo,
  input: LlmInvokeInput,
  options: { signal?: AbortSignal } = {},
): Promise<LlmInvokeOutput> {
  const resultKey = step.resultKey;

  const providerId = input.model?.provider ?? deps.defaults.provider;
  const provider = deps.providers.get(providerId);
  if (!provider) throw new LlmRequestInvalidError(`unknown LLM provider '${providerId}'`);
  const model = input.model?.name ?? deps.defaults.model;
  const pricing = provider.pricingKey(model);
  const price = deps.prices.priceOf(pricing.provider, pricing.model);

  const messages: ChatMessage[] = [
    ...input.messages,
    ...(input.prompt ? [{ role: 'user' as const, content: input.prompt }] : []),
  ];
  if (messages.length === 0)
    throw new LlmRequestInvalidError('messages and prompt are both empty: nothing to send');
  const maxTokens = input.maxTokens ?? deps.defaults.maxTokens;
  const request = { model, system: input.system, messages, maxTokens, temperature: input.temperature };
  const cacheable = input.cache ?? input.temperature === 0;
  const cacheKey = cacheable ? llmCacheKey({ provider: provider.id, ...request }) : undefined;
  const costKey = `${resultKey}/cost`;
  const output = (
    response: CachedResponse,
    costMicros: Micros,
    cached: boolean,
    savedMicros: Micros,
  ): LlmInvokeOutput => ({
    text: response.text,
    stopReason: response.stopReason,
    directive: input.parseDirective ? parseDirective(response.text) : null,
    messages: [...messages, { role: 'assistant', content: response.text }],
    provider: provider.id,
    model,
    usage: response.usage,
    costMicros,
    costUsd: microsToUsd(costMicros),
    cached,
    savedMicros,
  });
  const ledger = (response: CachedResponse, usdMicros: Micros, savedMicros: Micros) => ({
    executionId: step.executionId,
    stepId: step.stepId,
    stateName: step.stateName,
    kind: 'llm' as const,
    provider: provider.id,
    model,
    tokensIn: response.usage.inputTokens,
    tokensOut: response.usage.outputTokens,
    tokensCached: response.usage.cachedInputTokens,
    usdMicros,
    savedMicros,
    idempotencyKey: costKey,
  });

  if (cacheKey) {
    const hit = parseCached(await deps.cache.get(cacheKey));
    if (hit) {
      const saved = costOf(price, hit.usage);
      const result = output(hit, 0, true, saved);
      await deps.store.recordCost(
        ledger(hit, 0, saved),
        [
          {
            type: EVENTS.cacheHit,
            payload: {
              executionId: step.executionId,
              stateName: step.stateName,
              provider: provider.id,
              model,
              savedMicros: saved,
            },
          },
        ],
        { result: { key: resultKey, value: result } },
      );
      deps.metrics?.addMetric(METRICS.CacheHit, 'Count', 1);
      return result;
    }
    deps.metrics?.addMetric(METRICS.CacheMiss, 'Count', 1);
  }

  const worstCase = costOf(price, {
    inputTokens: worstCaseInputTokens(input.system, messages),
    outputTokens: maxTokens,
    cachedInputTokens: 0,
  });
  const reservationKey = `${resultKey}/${step.attempt}`;
  const reserved = await deps.store.reserveBudget({
    key: reservationKey,
    executionId: step.executionId,
    amountMicros: worstCase,
    kind: 'llm',
    stepId: step.stepId,
    stateName: step.stateName,
    provider: provider.id,
    model,
  });
  if (!reserved.ok) {
    deps.metrics?.addMetric(METRICS.BudgetExceeded, 'Count', 1);
    throw new BudgetExceededError(
      `a call to ${provider.id}/${model} may cost up to ${worstCase} µ$; execution ${step.executionId} has spent ${reserved.costMicros} and holds ${reserved.reservedMicros} of its ${reserved.budgetMicros} µ$ budget${reserved.overrunMicros > 0 ? `, and a charge overran its reservation by ${reserved.overrunMicros} µ$` : ''}`,
    );
  }

  const t0 = performance.now();
  let response: CachedResponse;
  try {
    // No time left (the signal is the invocation's deadline): fail retryably without calling.
    if (options.signal?.aborted) {
      throw new LlmProviderError(
        `no time left to call ${provider.id}/${model} before the function's deadline`,
        undefined,
        { cause: options.signal.reason },
      );
    }
    response = await provider.complete({ ...request, attempt: step.attempt }, options.signal);
  } catch (err) {
    if (err instanceof LlmProviderError && err.abandoned) {
      // Sent, then given up on: the provider may still answer and bill it. The ledger records the worst case
      // as unconfirmed spend rather than claim less than may have been billed.
      // Not bounded by the (spent) deadline signal: the margin kept before it is for this write.
      await untilWritten(() => deps.store.recordUnconfirmed(reservationKey, err.message), {
        sleep: deps.sleep,
      });
    } else {
      await deps.store.releaseBudget(reservationKey);
    }
    throw err;
  }
  const latencyMs = Math.round(performance.now() - t0);
  const costMicros = costOf(price, response.usage);
  const result = output(response, costMicros, false, 0);
  // The call is paid: its settlement is written even through a store outage (idempotent by costKey), for as
  // long as the invocation has time; the ledger must not miss a paid call.
  await untilWritten(
    () =>
      deps.store.recordCost(
        ledger(response, costMicros, 0),
        [
          {
            type: EVENTS.llmCalled,
            payload: {
              executionId: step.executionId,
              stateName: step.stateName,
              provider: provider.id,
              model,
              pricedAs: `${pricing.provider}/${pricing.model}`,
              usage: response.usage,
              costMicros,
              reservedMicros: worstCase,
              latencyMs,
              stopReason: response.stopReason,
            },
          },
        ],
        { reservationKey, result: { key: resultKey, value: result } },
      ),
    { signal: options.signal, sleep: deps.sleep },
  );
  if (cacheKey) {
    await deps.cache.set(
      cacheKey,
      JSON.stringify({ text: response.text, stopReason: response.stopReason, usage: response.usage }),
      deps.defaults.cacheTtlSeconds,
    );
  }
  deps.metrics?.addMetric(METRICS.CostMicros, 'Count', costMicros);
  deps.metrics?.addMetric(METRICS.LlmCalls, 'Count', 1);
  return result;
}

function parseCached(value: string | undefined): CachedResponse | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as CachedResponse;
    return typeof parsed.text === 'string' && parsed.usage ? parsed : undefined;
  } catch {
    return undefined;
  }
}
