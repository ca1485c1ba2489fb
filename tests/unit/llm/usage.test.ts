import { describe, expect, it } from 'vitest';
import { worstCaseInputTokens } from '#shared/llm/tokens';
import { settleUsage, tokenCount } from '#shared/llm/usage';

const request = {
  system: 'be brief',
  messages: [{ role: 'user' as const, content: 'hello there' }],
  maxTokens: 256,
};
const worstInput = worstCaseInputTokens(request.system, request.messages);

describe('Function: settleUsage', () => {
  it('takes reported counts as they are', () => {
    expect(settleUsage(request, { inputTokens: 40, outputTokens: 3, cachedInputTokens: 32 })).toEqual({
      usage: { inputTokens: 40, outputTokens: 3, cachedInputTokens: 32 },
    });
  });

  it('charges missing output at maxTokens and says the usage is estimated', () => {
    expect(settleUsage(request, { inputTokens: 40, outputTokens: undefined })).toEqual({
      usage: { inputTokens: 40, outputTokens: 256, cachedInputTokens: 0 },
      usageEstimated: true,
    });
  });

  it('charges missing input at the reserved worst case with nothing cached', () => {
    expect(
      settleUsage(request, {
        inputTokens: undefined,
        outputTokens: 3,
        cachedInputTokens: 10,
        cacheWriteInputTokens: 5,
      }),
    ).toEqual({
      usage: { inputTokens: worstInput, outputTokens: 3, cachedInputTokens: 0 },
      usageEstimated: true,
    });
  });

  it('clamps cached and cache-write counts so they never exceed the input', () => {
    expect(
      settleUsage(request, {
        inputTokens: 10,
        outputTokens: 1,
        cachedInputTokens: 8,
        cacheWriteInputTokens: 5,
      }),
    ).toEqual({
      usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 8, cacheWriteInputTokens: 2 },
    });
  });
});

describe('Function: tokenCount', () => {
  it.each([
    [12, 12],
    [0, 0],
    [-1, undefined],
    [1.5, undefined],
    ['12', undefined],
    [Number.NaN, undefined],
    [null, undefined],
  ])('reads %o as %o', (value, count) => {
    expect(tokenCount(value)).toBe(count);
  });
});
