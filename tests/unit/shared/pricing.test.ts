import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, UnknownModelPriceError } from '#shared/errors';
import { costOf, PriceTable } from '#shared/pricing/pricing';

describe('Function: costOf', () => {
  const price = {
    inputMicrosPerMTok: 150_000,
    outputMicrosPerMTok: 600_000,
    cachedInputMicrosPerMTok: 75_000,
    cacheWriteInputMicrosPerMTok: 187_500,
  };

  it('prices input, cached input and output tokens exactly in micro-dollars', () => {
    // 800 × 0.15 + 200 × 0.075 + 500 × 0.6 = 120 + 15 + 300
    expect(costOf(price, { inputTokens: 1000, cachedInputTokens: 200, outputTokens: 500 })).toBe(435);
  });

  it('prices prompt-cache writes at their own rate', () => {
    // 600 × 0.15 + 400 × 0.1875 (cache write) + 0 output = 90 + 75
    expect(
      costOf(price, { inputTokens: 1000, cachedInputTokens: 0, cacheWriteInputTokens: 400, outputTokens: 0 }),
    ).toBe(165);
    expect(() =>
      costOf(price, { inputTokens: 10, cachedInputTokens: 6, cacheWriteInputTokens: 5, outputTokens: 0 }),
    ).toThrow(/cannot exceed inputTokens/);
  });

  it('rounds a fraction of a micro-dollar up once, never down', () => {
    expect(costOf(price, { inputTokens: 1, cachedInputTokens: 0, outputTokens: 0 })).toBe(1);
    expect(costOf(price, { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 })).toBe(0);
  });

  it('stays exact for a million-token call where floats would drift', () => {
    const big = {
      inputMicrosPerMTok: 2_500_000,
      outputMicrosPerMTok: 10_000_000,
      cachedInputMicrosPerMTok: 1_250_000,
      cacheWriteInputMicrosPerMTok: 2_500_000,
    };
    expect(costOf(big, { inputTokens: 3_000_003, cachedInputTokens: 1, outputTokens: 777_777 })).toBe(
      15_277_777,
    );
  });

  it('rejects negative, fractional or inconsistent token counts', () => {
    expect(() => costOf(price, { inputTokens: -1, cachedInputTokens: 0, outputTokens: 0 })).toThrow(
      RangeError,
    );
    expect(() => costOf(price, { inputTokens: 1.5, cachedInputTokens: 0, outputTokens: 0 })).toThrow(
      RangeError,
    );
    expect(() => costOf(price, { inputTokens: 1, cachedInputTokens: 2, outputTokens: 0 })).toThrow(
      /cachedInputTokens/,
    );
  });
});

describe('Class: PriceTable', () => {
  it('loads the bundled table with integer micro-dollar prices', () => {
    const table = PriceTable.load();
    expect(table.priceOf('openai', 'gpt-4o-mini')).toEqual({
      inputMicrosPerMTok: 150_000,
      outputMicrosPerMTok: 600_000,
      cachedInputMicrosPerMTok: 75_000,
      cacheWriteInputMicrosPerMTok: 150_000,
    });
    // Anthropic bills prompt-cache writes at 1.25 × input.
    expect(table.priceOf('anthropic', 'claude-sonnet-4-5').cacheWriteInputMicrosPerMTok).toBe(3_750_000);
  });

  it('prices self-hosted models through a provider wildcard', () => {
    expect(PriceTable.load().priceOf('ollama', 'llama3.2').inputMicrosPerMTok).toBe(0);
  });

  it('refuses an unknown model instead of pricing it at $0', () => {
    expect(() => PriceTable.load().priceOf('openai', 'gpt-unknown')).toThrow(UnknownModelPriceError);
  });

  it('overlays an override file on the bundled table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wflo-prices-'));
    const file = join(dir, 'prices.json');
    writeFileSync(
      file,
      JSON.stringify({
        models: { 'openai/gpt-4o-mini': { input: 1, output: 2 }, 'acme/x': { input: 3, output: 4 } },
      }),
    );
    const table = PriceTable.load(file);
    expect(table.priceOf('openai', 'gpt-4o-mini')).toEqual({
      inputMicrosPerMTok: 1_000_000,
      outputMicrosPerMTok: 2_000_000,
      cachedInputMicrosPerMTok: 1_000_000,
      cacheWriteInputMicrosPerMTok: 1_000_000,
    });
    expect(table.has('acme', 'x')).toBe(true);
    expect(table.has('openai', 'gpt-4o')).toBe(true);
  });

  it('rejects a malformed override file naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wflo-prices-'));
    const file = join(dir, 'prices.json');
    writeFileSync(file, JSON.stringify({ models: { 'openai/x': { input: -1, output: 2 } } }));
    expect(() => PriceTable.load(file)).toThrow(ConfigError);
    expect(() => PriceTable.load(file)).toThrow(/models\.openai\/x\.input/);
  });
});
