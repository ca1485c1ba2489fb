import { describe, expect, it } from 'vitest';
import { pricingProviderFor } from '#shared/llm/openai-compatible';

describe('Function: pricingProviderFor', () => {
  it('prices an Ollama endpoint as self-hosted and everything else as OpenAI', () => {
    expect(pricingProviderFor('http://127.0.0.1:11434/v1')).toBe('ollama');
    expect(pricingProviderFor('https://api.openai.com/v1')).toBe('openai');
    expect(pricingProviderFor('http://vllm.internal:8000/v1')).toBe('openai');
  });
});
