import { beforeAll, describe, expect, it } from 'vitest';
import { LlmProviderError, LlmRequestInvalidError } from '#shared/errors';
import { AnthropicProvider } from '#shared/llm/anthropic';
import { AnthropicProtocolServer } from '../helpers/anthropic-server.ts';
import { serveDuringTests } from '../helpers/protocol-server.ts';

const server = new AnthropicProtocolServer();
let provider: AnthropicProvider;

serveDuringTests(server);

beforeAll(async () => {
  provider = new AnthropicProvider({ baseUrl: server.url, apiKey: 'sk-ant-test', timeoutMs: 500 });
});

const request = {
  model: 'claude-haiku-4-5',
  system: 'be brief',
  messages: [
    { role: 'user' as const, content: 'hi' },
    { role: 'assistant' as const, content: 'hello' },
    { role: 'user' as const, content: '2+2?' },
  ],
  maxTokens: 64,
  temperature: 0,
};

describe('Class: AnthropicProvider (over HTTP)', () => {
  it('posts to /v1/messages with the API key, version header and the system prompt as a top-level field', async () => {
    // Act
    await provider.complete(request);

    // Assess
    const [sent] = server.requests;
    expect(sent!.method).toBe('POST');
    expect(sent!.path).toBe('/v1/messages');
    expect(sent!.headers['x-api-key']).toBe('sk-ant-test');
    expect(sent!.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.headers.authorization).toBeUndefined();
    expect(sent!.body).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      system: 'be brief',
      temperature: 0,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: '2+2?' },
      ],
    });
  });

  it('leaves out system and temperature when the request has none', async () => {
    // Act
    await provider.complete({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: 'hi' }],
      maxTokens: 8,
    });

    // Assess
    expect(Object.keys(server.requests[0]!.body).sort()).toEqual(['max_tokens', 'messages', 'model']);
  });

  it('joins the text blocks, skips other block types and reports the model the API answered with', async () => {
    // Prepare
    server.queue.push({
      kind: 'message',
      blocks: [null, 'four', ' (2+2)'],
      stopReason: 'max_tokens',
      model: 'claude-haiku-4-5-20251001',
      usage: { input: 30, output: 64 },
    });

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r).toEqual({
      text: 'four (2+2)',
      stopReason: 'max_tokens',
      model: 'claude-haiku-4-5-20251001',
      usage: { inputTokens: 30, outputTokens: 64, cachedInputTokens: 0 },
    });
  });

  it('adds cache reads and cache writes back into inputTokens, with cache reads as the cached subset', async () => {
    // Prepare: Anthropic's input_tokens counts only the uncached tail of the prompt
    server.queue.push({
      kind: 'message',
      blocks: ['ok'],
      usage: { input: 50, output: 7, cacheRead: 2000, cacheCreation: 300 },
    });

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r.usage).toEqual({
      inputTokens: 2350,
      outputTokens: 7,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 300,
    });
    expect(r.usage.cachedInputTokens).toBeLessThanOrEqual(r.usage.inputTokens);
  });

  it.each([
    ['end_turn', 'end_turn'],
    ['stop_sequence', 'stop_sequence'],
    ['tool_use', 'tool_use'],
    ['refusal', 'content_filter'],
    ['model_context_window_exceeded', 'max_tokens'],
  ])('maps stop_reason %s to %s', async (stopReason, expected) => {
    // Prepare
    server.queue.push({ kind: 'message', blocks: ['x'], stopReason });

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r.stopReason).toBe(expected);
  });

  it.each([429, 500, 503, 529])('maps HTTP %i to the retryable LlmProviderError', async (status) => {
    // Prepare
    server.queue.push({ kind: 'status', status });

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as LlmProviderError).name).toBe('LlmProviderError');
    expect((err as LlmProviderError).status).toBe(status);
  });

  it.each([400, 401, 403, 404, 413])(
    'maps HTTP %i to the non-retryable LlmRequestInvalidError',
    async (status) => {
      // Prepare
      server.queue.push({
        kind: 'status',
        status,
        body: '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}',
      });

      // Act
      const err = await provider.complete(request).catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(LlmRequestInvalidError);
      expect((err as LlmRequestInvalidError).name).toBe('LlmRequestInvalidError');
      expect((err as LlmRequestInvalidError).status).toBe(status);
      expect((err as Error).message).toContain('prompt is too long');
    },
  );

  it('omits x-api-key when no key is configured, which the API refuses as not retryable', async () => {
    // Prepare
    const keyless = new AnthropicProvider({ baseUrl: server.url, timeoutMs: 500 });

    // Act
    const err = await keyless.complete(request).catch((e: unknown) => e);

    // Assess
    expect(server.requests[0]!.headers['x-api-key']).toBeUndefined();
    expect(err).toBeInstanceOf(LlmRequestInvalidError);
    expect((err as LlmRequestInvalidError).status).toBe(401);
  });

  it('treats a timeout as retryable', async () => {
    // Prepare
    server.queue.push({ kind: 'hang', ms: 2_000 });

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toMatch(/TimeoutError/);
  });

  it('stops waiting when the caller aborts', async () => {
    // Prepare
    server.queue.push({ kind: 'hang', ms: 2_000 });
    const slow = new AnthropicProvider({ baseUrl: server.url, apiKey: 'k', timeoutMs: 10_000 });
    const started = Date.now();

    // Act
    const err = await slow.complete(request, AbortSignal.timeout(100)).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('treats a JSON body without content as retryable', async () => {
    // Prepare
    server.queue.push({ kind: 'raw', body: '{"type":"message"}' });

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toMatch(/no content/);
  });

  it('treats a refused connection as retryable', async () => {
    // Prepare
    const down = new AnthropicProvider({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k', timeoutMs: 500 });

    // Act
    const err = await down.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as LlmProviderError).status).toBeUndefined();
  });

  it('is priced under the anthropic/ key of the requested model', () => {
    expect(provider.pricingKey('claude-sonnet-4-5')).toEqual({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
    });
  });
});
