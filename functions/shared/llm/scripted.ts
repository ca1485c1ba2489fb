import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { ConfigError, LlmRequestInvalidError } from '../errors.ts';
import { errorForStatus } from './errors.ts';
import type { LlmProviderId } from './providers.ts';
import agentDemo from './scripts/agent-demo.json' with { type: 'json' };
import type { LlmProvider, LlmRequest, LlmResponse } from './types.ts';

const RuleSchema = z.object({
  /** All present conditions must hold. `turn` = number of assistant messages already in the request. */
  when: z
    .object({
      turn: z.number().int().min(0).optional(),
      systemIncludes: z.string().optional(),
      anyMessageIncludes: z.string().optional(),
      lastUserIncludes: z.string().optional(),
      attempt: z.number().int().min(0).optional(),
    })
    .default({}),
  reply: z.union([
    z.object({
      text: z.string(),
      stopReason: z.enum(['end_turn', 'max_tokens', 'tool_use']).default('end_turn'),
      usage: z
        .object({
          inputTokens: z.number().int().min(0),
          outputTokens: z.number().int().min(0),
          cachedInputTokens: z.number().int().min(0).default(0),
        })
        .optional(),
    }),
    z.object({ error: z.object({ status: z.number().int().min(400).max(599), message: z.string() }) }),
  ]),
});

export const ScriptSchema = z.object({
  /** Model name steps use to select this script (e.g. `agent-demo`). */
  model: z.string().min(1),
  description: z.string().optional(),
  /** Price-table key this script's tokens are billed as, e.g. `openai/gpt-4o-mini` ("what it would have cost"). */
  priceAs: z.string().regex(/^[a-z0-9-]+\/.+$/),
  rules: z.array(RuleSchema).min(1),
});
export type Script = z.infer<typeof ScriptSchema>;

/** Deterministic token estimate: ~4 UTF-8 bytes per token plus 4 per message, as tokenizers average for English. */
export function estimateTokens(texts: readonly string[]): number {
  return texts.reduce((sum, t) => sum + Math.ceil(Buffer.byteLength(t, 'utf8') / 4) + 4, 0);
}

/** Parses and validates a script object; throws ConfigError naming the bad field. */
export function parseScript(raw: unknown, source: string): Script {
  const parsed = ScriptSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`scripted LLM script ${source} is invalid: ${issues}`);
  }
  return parsed.data;
}

/** Loads a script file (JSON). */
export function loadScriptFile(path: string): Script {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`scripted LLM script ${path}: cannot read JSON`, { cause });
  }
  return parseScript(raw, path);
}

/** The scripts that ship with wflo, by model name. */
export function bundledScripts(): Script[] {
  return [parseScript(agentDemo, 'agent-demo.json')];
}

/**
 * The **scripted** provider: a deterministic stand-in for a model, for offline demos and tests. It answers
 * from a JSON script (first matching rule wins) and reports token usage estimated from the text, billed as
 * the script's `priceAs` model so costs and budgets behave as they would with that model.
 * It never contacts a network.
 */
export class ScriptedProvider implements LlmProvider {
  readonly id: LlmProviderId = 'scripted';
  readonly #scripts: ReadonlyMap<string, Script>;

  constructor(scripts: readonly Script[]) {
    this.#scripts = new Map(scripts.map((s) => [s.model, s]));
  }

  pricingKey(model: string) {
    const script = this.#script(model);
    const [provider, ...rest] = script.priceAs.split('/');
    return { provider: provider!, model: rest.join('/') };
  }

  async complete(request: LlmRequest): Promise<LlmResponse> {
    const script = this.#script(request.model);
    const turn = request.messages.filter((m) => m.role === 'assistant').length;
    const lastUser = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const rule = script.rules.find(({ when }) => {
      if (when.turn !== undefined && when.turn !== turn) return false;
      if (when.attempt !== undefined && when.attempt !== (request.attempt ?? 0)) return false;
      if (when.systemIncludes !== undefined && !(request.system ?? '').includes(when.systemIncludes))
        return false;
      if (when.lastUserIncludes !== undefined && !lastUser.includes(when.lastUserIncludes)) return false;
      if (
        when.anyMessageIncludes !== undefined &&
        !request.messages.some((m) => m.content.includes(when.anyMessageIncludes!))
      )
        return false;
      return true;
    });
    if (!rule) {
      throw new LlmRequestInvalidError(`scripted model '${request.model}' has no rule for turn ${turn}`, 400);
    }
    if ('error' in rule.reply)
      throw errorForStatus('scripted', rule.reply.error.status, rule.reply.error.message);
    const text = rule.reply.text;
    const usage = rule.reply.usage ?? {
      inputTokens: estimateTokens([request.system ?? '', ...request.messages.map((m) => m.content)]),
      outputTokens: Math.min(estimateTokens([text]), request.maxTokens),
      cachedInputTokens: 0,
    };
    return { text, stopReason: rule.reply.stopReason, usage, model: request.model };
  }

  #script(model: string): Script {
    const script = this.#scripts.get(model);
    if (!script) {
      throw new LlmRequestInvalidError(
        `scripted provider has no script for model '${model}' (have: ${[...this.#scripts.keys()].join(', ')})`,
        404,
      );
    }
    return script;
  }
}
