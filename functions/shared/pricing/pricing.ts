import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { ConfigError, UnknownModelPriceError } from '../errors.ts';
import type { Micros } from '../money.ts';
import defaultPrices from './prices.json' with { type: 'json' };

const UsdPerMTok = z.number().min(0).max(10_000);
const PriceFileSchema = z.object({
  models: z.record(
    z.string().regex(/^[a-z0-9-]+\/.+$/, 'keys are provider/model'),
    z.object({
      input: UsdPerMTok,
      output: UsdPerMTok,
      cachedInput: UsdPerMTok.optional(),
      /** Writing the prompt cache (Anthropic: 1.25 × input); the input price when absent. */
      cacheWriteInput: UsdPerMTok.optional(),
    }),
  ),
});

/** A model's price in micro-dollars per 1M tokens (integers, so cost arithmetic is exact). */
export interface ModelPrice {
  readonly inputMicrosPerMTok: number;
  readonly outputMicrosPerMTok: number;
  readonly cachedInputMicrosPerMTok: number;
  readonly cacheWriteInputMicrosPerMTok: number;
}

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Input tokens served from the provider's prompt cache (a subset of inputTokens). */
  readonly cachedInputTokens: number;
  /** Input tokens written to the provider's prompt cache (a subset of inputTokens, billed at its own rate). */
  readonly cacheWriteInputTokens?: number;
}

/** Price lookup by `provider/model`, with `provider/*` wildcards for self-hosted models. */
export class PriceTable {
  readonly #prices: ReadonlyMap<string, ModelPrice>;

  constructor(prices: ReadonlyMap<string, ModelPrice>) {
    this.#prices = prices;
  }

  /** The bundled table, overlaid with entries from `overrideFile` when given. */
  static load(overrideFile?: string): PriceTable {
    const base = parsePrices(defaultPrices, 'bundled prices.json');
    if (!overrideFile) return new PriceTable(base);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(overrideFile, 'utf8'));
    } catch (cause) {
      throw new ConfigError(`WFLO_PRICES_FILE ${overrideFile}: cannot read JSON`, { cause });
    }
    return new PriceTable(new Map([...base, ...parsePrices(raw, overrideFile)]));
  }

  /** Throws {@link UnknownModelPriceError}: an unknown model is an error, never a silent $0. */
  priceOf(provider: string, model: string): ModelPrice {
    const price = this.#prices.get(`${provider}/${model}`) ?? this.#prices.get(`${provider}/*`);
    if (!price) {
      throw new UnknownModelPriceError(
        `no price for model '${provider}/${model}': add it to the price table (WFLO_PRICES_FILE) before using it`,
      );
    }
    return price;
  }

  has(provider: string, model: string): boolean {
    return this.#prices.has(`${provider}/${model}`) || this.#prices.has(`${provider}/*`);
  }
}

function usdToMicrosPerMTok(usd: number): number {
  // Prices have at most 6 decimals in USD/MTok; rounding removes binary-float noise (0.15*1e6).
  return Math.round(usd * 1_000_000);
}

function parsePrices(raw: unknown, source: string): Map<string, ModelPrice> {
  const parsed = PriceFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`${source}: invalid price table: ${issues}`);
  }
  return new Map(
    Object.entries(parsed.data.models).map(([key, p]) => [
      key,
      {
        inputMicrosPerMTok: usdToMicrosPerMTok(p.input),
        outputMicrosPerMTok: usdToMicrosPerMTok(p.output),
        cachedInputMicrosPerMTok: usdToMicrosPerMTok(p.cachedInput ?? p.input),
        cacheWriteInputMicrosPerMTok: usdToMicrosPerMTok(p.cacheWriteInput ?? p.input),
      },
    ]),
  );
}

/**
 * Cost of one call in micro-dollars, exact: BigInt arithmetic, rounded up once at the end so the
 * ledger never under-reports. Cached input tokens are billed at the cached rate, the rest at the
 * input rate.
 * @example costOf(price, { inputTokens: 1000, outputTokens: 200, cachedInputTokens: 0 })
 */
export function costOf(price: ModelPrice, usage: TokenUsage): Micros {
  for (const [k, v] of Object.entries(usage)) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`token count ${k} must be a non-negative integer`);
  }
  const cacheWrite = usage.cacheWriteInputTokens ?? 0;
  if (usage.cachedInputTokens + cacheWrite > usage.inputTokens) {
    throw new RangeError('cachedInputTokens + cacheWriteInputTokens cannot exceed inputTokens');
  }
  const uncached = BigInt(usage.inputTokens - usage.cachedInputTokens - cacheWrite);
  const numerator =
    uncached * BigInt(price.inputMicrosPerMTok) +
    BigInt(usage.cachedInputTokens) * BigInt(price.cachedInputMicrosPerMTok) +
    BigInt(cacheWrite) * BigInt(price.cacheWriteInputMicrosPerMTok) +
    BigInt(usage.outputTokens) * BigInt(price.outputMicrosPerMTok);
  const perMillion = 1_000_000n;
  return Number((numerator + perMillion - 1n) / perMillion);
}
