import { beforeAll, describe, expect, it } from 'vitest';
import { LlmProviderError, LlmRequestInvalidError } from '#shared/errors';
import { OpenAiCompatibleProvider } from '#shared/llm/openai-compatible';
import { OpenAiProtocolServer } from '../helpers/openai-server.ts';
import { serveDuringTests } from '../helpers/protocol-server.ts';

const server = new OpenAiProtocolServer();
let provider: OpenAiCompatibleProvider;

serveDuringTests(server);

beforeAll(async () => {
  provider = new OpenAiCompatibleProvider({ baseUrl: server.url, apiKey: 'sk-test', timeoutMs: 500 });
});

const request = {
  model: 'gpt-4o-mini',
  system: 'be brief',
  messages: [{ role: 'user' as const, content: 'hi' }],
  maxTokens: 64,
  temperature: 0,
};

describe('Class: OpenAiCompatibleProvider (over HTTP)', () => {
  it('sends the Chat Completions request with the system prompt first and the bearer key', async () => {
    // Act
    await provider.complete(request);

    // Assess
    const [sent] = server.requests;
    expect(sent!.headers.authorization).toBe('Bearer sk-test');
    expect(sent!.body).toMatchObject({
      model: 'gpt-4o-mini',
      max_tokens: 64,
      temperature: 0,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
    });
  });

  it('normalizes the reply: text, stop reason and usage with cached tokens', async () => {
    // Prepare
    server.queue.push({
      kind: 'completion',
      content: 'hello',
      finishReason: 'length',
      usage: { prompt: 1200, completion: 64, cached: 1024 },
    });

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r).toEqual({
      text: 'hello',
      stopReason: 'max_tokens',
      model: 'gpt-4o-mini',
      usage: { inputTokens: 1200, outputTokens: 64, cachedInputTokens: 1024 },
    });
  });

  it.each([429, 500, 502, 503])('maps HTTP %i to the retryable LlmProviderError', async (status) => {
    server.queue.push({ kind: 'status', status });
    const err = await provider.complete(request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as LlmProviderError).status).toBe(status);
  });

  it.each([400, 401, 403, 404, 422])(
    'maps HTTP %i to the non-retryable LlmRequestInvalidError',
    async (status) => {
      server.queue.push({ kind: 'status', status, body: '{"error":{"message":"context too long"}}' });
      const err = await provider.complete(request).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LlmRequestInvalidError);
      expect((err as Error).message).toContain('context too long');
    },
  );

  it('treats a timeout as retryable', async () => {
    server.queue.push({ kind: 'hang', ms: 2_000 });
    await expect(provider.complete(request)).rejects.toThrow(LlmProviderError);
  });

  it('treats a refused connection as retryable', async () => {
    const down = new OpenAiCompatibleProvider({ baseUrl: 'http://127.0.0.1:9/v1', timeoutMs: 500 });
    await expect(down.complete(request)).rejects.toThrow(LlmProviderError);
  });
});
