import { describe, expect, it } from 'vitest';
import { ConfigError, LlmProviderError, LlmRequestInvalidError } from '#shared/errors';
import { parseDirective } from '#shared/llm/directive';
import { bundledScripts, estimateTokens, parseScript, ScriptedProvider } from '#shared/llm/scripted';

const script = parseScript(
  {
    model: 'unit',
    priceAs: 'openai/gpt-4o-mini',
    rules: [
      {
        when: { turn: 0, attempt: 0, lastUserIncludes: 'flaky' },
        reply: { error: { status: 429, message: 'slow down' } },
      },
      { when: { turn: 0, lastUserIncludes: 'bad' }, reply: { error: { status: 422, message: 'nope' } } },
      { when: { turn: 0 }, reply: { text: 'first' } },
      {
        when: { systemIncludes: 'judge' },
        reply: { text: 'verdict', usage: { inputTokens: 7, outputTokens: 3 } },
      },
    ],
  },
  'inline',
);

describe('Class: ScriptedProvider', () => {
  const provider = new ScriptedProvider([script]);
  const user = (content: string) => ({ role: 'user' as const, content });

  it('answers the first matching rule, deterministically, with estimated usage', async () => {
    const a = await provider.complete({ model: 'unit', messages: [user('hello')], maxTokens: 100 });
    const b = await provider.complete({ model: 'unit', messages: [user('hello')], maxTokens: 100 });
    expect(a).toEqual(b);
    expect(a.text).toBe('first');
    expect(a.usage).toEqual({
      inputTokens: estimateTokens(['', 'hello']),
      outputTokens: estimateTokens(['first']),
      cachedInputTokens: 0,
    });
  });

  it('uses scripted usage when given and matches on the system prompt and turn', async () => {
    const r = await provider.complete({
      model: 'unit',
      system: 'you are a judge',
      messages: [user('q'), { role: 'assistant', content: 'a' }, user('q2')],
      maxTokens: 100,
    });
    expect(r.text).toBe('verdict');
    expect(r.usage).toEqual({ inputTokens: 7, outputTokens: 3, cachedInputTokens: 0 });
  });

  it('scripts transient faults per attempt: 429 is retryable, the retry succeeds', async () => {
    await expect(
      provider.complete({ model: 'unit', messages: [user('flaky')], maxTokens: 10, attempt: 0 }),
    ).rejects.toThrow(LlmProviderError);
    await expect(
      provider.complete({ model: 'unit', messages: [user('flaky')], maxTokens: 10, attempt: 1 }),
    ).resolves.toMatchObject({
      text: 'first',
    });
  });

  it('maps a scripted 4xx to the non-retryable LlmRequestInvalidError', async () => {
    await expect(
      provider.complete({ model: 'unit', messages: [user('bad')], maxTokens: 10 }),
    ).rejects.toThrow(LlmRequestInvalidError);
  });

  it('refuses an unknown model and a request no rule matches', async () => {
    await expect(provider.complete({ model: 'other', messages: [user('x')], maxTokens: 10 })).rejects.toThrow(
      /no script for model 'other'/,
    );
    const r = provider.complete({
      model: 'unit',
      messages: [user('x'), { role: 'assistant', content: 'y' }, user('z')],
      maxTokens: 10,
    });
    await expect(r).rejects.toThrow(/no rule for turn 1/);
  });

  it('bills as the priceAs model', () => {
    expect(provider.pricingKey('unit')).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
  });

  it('ships a valid agent-demo script', () => {
    expect(bundledScripts().map((s) => s.model)).toContain('agent-demo');
  });

  it('rejects an invalid script naming the field', () => {
    expect(() => parseScript({ model: 'x', priceAs: 'nope', rules: [] }, 'f.json')).toThrow(ConfigError);
    expect(() => parseScript({ model: 'x', priceAs: 'nope', rules: [] }, 'f.json')).toThrow(/priceAs/);
  });
});

describe('Function: parseDirective', () => {
  it('reads NEXT as continue and FINAL as the answer, from the last directive line', () => {
    expect(parseDirective('working\nNEXT: step 2')).toEqual({ continue: true, final: null, next: 'step 2' });
    expect(parseDirective('NEXT: x\nFINAL: 42')).toEqual({ continue: false, final: '42', next: null });
    expect(parseDirective('final: lower case works')).toMatchObject({
      continue: false,
      final: 'lower case works',
    });
  });

  it('treats a reply without a directive as final, so the loop cannot run away', () => {
    expect(parseDirective('just an answer')).toEqual({
      continue: false,
      final: 'just an answer',
      next: null,
    });
  });
});
