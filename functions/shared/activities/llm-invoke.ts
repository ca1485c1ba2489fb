import { z } from 'zod';
import { BudgetExceededError, LlmRequestInvalidError } from '../errors.ts';
import { type AgentDirective, parseDirective } from '../llm/directive.ts';
import type { ChatMessage, LlmProvider, StopReason } from '../llm/types.ts';
import { type Micros, microsToUsd } from '../money.ts';
import { costOf, type PriceTable, type TokenUsage } from '../pricing/pricing.ts';
import type { StepInfo } from '../step-context.ts';
import { entryKey } from '../step-context.ts';
import type { Store } from '../store.ts';

const MessageSchema = z.object({ role: z.enum(['user', 'assistant']), content: z.string() });

export const LlmInvokeInputSchema = z.object({
  context: z.unknown(),
  /** Provider and model; the configured default when null or absent. */
  model: z
    .object({
      provider: z.enum(['scripted', 'openai-compatible', 'bedrock', 'anthropic']).optional(),
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
  readonly costMicros: Micros;
  readonly costUsd: number;
}

export interface LlmInvokeDeps {
  readonly store: Store;
  readonly prices: PriceTable;
  readonly providers: ReadonlyMap<string, LlmProvider>;
  readonly defaults: { provider: string; model: string; maxTokens: number };
  /** Powertools Metrics (or anything with its addMetric) for CostMicros / LlmCalls. */
  readonly metrics?: { addMetric(name: string, unit: 'Count', value: number): void };
}

/**
 * One model call as a workflow step: resolve provider and price (an unknown model fails before any call),
 * check the execution's budget, call, then record the ledger row and `llm.called` atomically.
 */
export async function invokeLlm(
  deps: LlmInvokeDeps,
  step: StepInfo,
  input: LlmInvokeInput,
): Promise<LlmInvokeOutput> {
  const providerId = input.model?.provider ?? deps.defaults.provider;
  const provider = deps.providers.get(providerId);
  if (!provider) throw new LlmRequestInvalidError(`unknown LLM provider '${providerId}'`);
  const model = input.model?.name ?? deps.defaults.model;
  const pricing = provider.pricingKey(model);
  const price = deps.prices.priceOf(pricing.provider, pricing.model);

  const execution = await deps.store.getExecution(step.executionId);
  if (execution?.budgetMicros != null && execution.costMicros >= execution.budgetMicros) {
    throw new BudgetExceededError(
      `execution ${step.executionId} has spent ${execution.costMicros} of its ${execution.budgetMicros} µ$ budget`,
    );
  }

  const messages: ChatMessage[] = [
    ...input.messages,
    ...(input.prompt ? [{ role: 'user' as const, content: input.prompt }] : []),
  ];
  if (messages.length === 0)
    throw new LlmRequestInvalidError('messages and prompt are both empty: nothing to send');
  const maxTokens = input.maxTokens ?? deps.defaults.maxTokens;
  const t0 = performance.now();
  const response = await provider.complete({
    model,
    system: input.system,
    messages,
    maxTokens,
    temperature: input.temperature,
    attempt: step.attempt,
  });
  const latencyMs = Math.round(performance.now() - t0);
  const costMicros = costOf(price, response.usage);
  await deps.store.recordCost(
    {
      executionId: step.executionId,
      stepId: step.stepId,
      stateName: step.stateName,
      kind: 'llm',
      provider: provider.id,
      model,
      tokensIn: response.usage.inputTokens,
      tokensOut: response.usage.outputTokens,
      tokensCached: response.usage.cachedInputTokens,
      usdMicros: costMicros,
      idempotencyKey: `${entryKey(step)}/${step.attempt}/llm`,
    },
    [
      {
        type: 'llm.called',
        payload: {
          executionId: step.executionId,
          stateName: step.stateName,
          provider: provider.id,
          model,
          pricedAs: `${pricing.provider}/${pricing.model}`,
          usage: response.usage,
          costMicros,
          latencyMs,
          stopReason: response.stopReason,
        },
      },
    ],
  );
  deps.metrics?.addMetric('CostMicros', 'Count', costMicros);
  deps.metrics?.addMetric('LlmCalls', 'Count', 1);
  return {
    text: response.text,
    stopReason: response.stopReason,
    directive: input.parseDirective ? parseDirective(response.text) : null,
    messages: [...messages, { role: 'assistant', content: response.text }],
    provider: provider.id,
    model,
    usage: response.usage,
    costMicros,
    costUsd: microsToUsd(costMicros),
  };
}
