import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmProviderError, LlmRequestInvalidError } from '#shared/errors';
import { BedrockProvider } from '#shared/llm/bedrock';
import { BedrockProtocolServer } from '../helpers/bedrock-server.ts';
import { serveDuringTests } from '../helpers/protocol-server.ts';

const server = new BedrockProtocolServer();
const MODEL = 'amazon.nova-lite-v1:0';
let client: BedrockRuntimeClient;
let provider: BedrockProvider;

serveDuringTests(server);

beforeAll(async () => {
  client = server.client();
  provider = new BedrockProvider({ client, timeoutMs: 500 });
});
afterAll(() => {
  client.destroy();
});

const request = {
  model: MODEL,
  system: 'be brief',
  messages: [{ role: 'user' as const, content: 'hi' }],
  maxTokens: 64,
  temperature: 0,
};

describe('Class: BedrockProvider (real SDK over HTTP/2)', () => {
  it('posts a signed Converse request for the model id to /model/{modelId}/converse', async () => {
    // Act
    await provider.complete(request);

    // Assess
    const [sent] = server.requests;
    expect(sent!.modelId).toBe(MODEL);
    expect(sent!.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/.*\/bedrock\/aws4_request/,
    );
    expect(sent!.body).toEqual({
      system: [{ text: 'be brief' }],
      messages: [{ role: 'user', content: [{ text: 'hi' }] }],
      inferenceConfig: { maxTokens: 64, temperature: 0 },
    });
  });

  it('normalizes the deserialized reply, adding cache reads and writes into inputTokens', async () => {
    // Prepare
    server.queue.push({
      kind: 'converse',
      text: 'four',
      stopReason: 'guardrail_intervened',
      usage: { input: 40, output: 3, cacheRead: 1000, cacheWrite: 200 },
    });

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r).toEqual({
      text: 'four',
      stopReason: 'content_filter',
      model: MODEL,
      usage: { inputTokens: 1240, outputTokens: 3, cachedInputTokens: 1000, cacheWriteInputTokens: 200 },
    });
  });

  it.each([
    ['ThrottlingException', 429],
    ['ServiceUnavailableException', 503],
    ['InternalServerException', 500],
    ['ModelTimeoutException', 408],
    ['ModelNotReadyException', 429],
    ['ModelErrorException', 424],
  ])('maps %s (HTTP %i) from the wire to the retryable LlmProviderError', async (type, status) => {
    // Prepare
    server.queue.push({ kind: 'exception', status, type });

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as LlmProviderError).status).toBe(status);
    expect((err as Error).message).toContain(type);
  });

  it.each([
    ['ValidationException', 400],
    ['AccessDeniedException', 403],
    ['ResourceNotFoundException', 404],
    ['ServiceQuotaExceededException', 400],
  ])('maps %s (HTTP %i) from the wire to the non-retryable LlmRequestInvalidError', async (type, status) => {
    // Prepare
    server.queue.push({ kind: 'exception', status, type, message: 'Input is too long for requested model.' });

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmRequestInvalidError);
    expect((err as LlmRequestInvalidError).status).toBe(status);
    expect((err as Error).message).toContain('Input is too long');
  });

  it('treats a timeout as retryable', async () => {
    // Prepare
    server.queue.push({ kind: 'hang', ms: 2_000 });
    const started = Date.now();

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('treats a gateway error page as retryable', async () => {
    // Prepare
    server.queue.push({ kind: 'raw', status: 502, body: '<html>gateway</html>' });

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
  });

  it('treats a refused connection as retryable', async () => {
    // Prepare
    const downClient = new BedrockProtocolServer();
    downClient.url = 'http://127.0.0.1:9';
    const sdk = downClient.client();
    const down = new BedrockProvider({ client: sdk, timeoutMs: 500 });

    // Act
    const err = await down.complete(request).catch((e: unknown) => e);
    sdk.destroy();

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as LlmProviderError).status).toBeUndefined();
  });
});
