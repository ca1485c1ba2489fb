import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { describe, expect, it } from 'vitest';
import { AnthropicProvider } from '#shared/llm/anthropic';
import { BedrockProvider } from '#shared/llm/bedrock';
import { OpenAiCompatibleProvider } from '#shared/llm/openai-compatible';
import { isLlmProviderId, KEYED_PROVIDERS, LLM_PROVIDERS } from '#shared/llm/providers';
import { bundledScripts, ScriptedProvider } from '#shared/llm/scripted';

describe('Constant: LLM_PROVIDERS', () => {
  it('lists exactly the ids the adapters report', () => {
    // Prepare
    const adapters = [
      new ScriptedProvider(bundledScripts()),
      new OpenAiCompatibleProvider({ baseUrl: 'http://localhost:11434/v1', timeoutMs: 1 }),
      new AnthropicProvider({ baseUrl: 'https://api.anthropic.com', timeoutMs: 1 }),
      new BedrockProvider({ client: new BedrockRuntimeClient({ region: 'us-east-1' }), timeoutMs: 1 }),
    ];

    // Act
    const ids = adapters.map((a) => a.id);

    // Assess
    expect([...ids].sort()).toEqual([...LLM_PROVIDERS].sort());
    expect(KEYED_PROVIDERS.every(isLlmProviderId)).toBe(true);
    expect(isLlmProviderId('openai')).toBe(false);
  });
});
