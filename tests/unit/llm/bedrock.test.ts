import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  InternalServerException,
  ModelErrorException,
  ModelNotReadyException,
  ModelTimeoutException,
  ResourceNotFoundException,
  ServiceQuotaExceededException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { LlmProviderError, LlmRequestInvalidError } from '#shared/errors';
import { BedrockProvider, errorForBedrock } from '#shared/llm/bedrock';

const bedrock = mockClient(BedrockRuntimeClient);
const MODEL = 'anthropic.claude-haiku-4-5-20251001-v1:0';
const provider = new BedrockProvider({
  client: new BedrockRuntimeClient({ region: 'eu-west-1' }),
  timeoutMs: 5_000,
});

const request = {
  model: MODEL,
  system: 'be brief',
  messages: [
    { role: 'user' as const, content: 'hi' },
    { role: 'assistant' as const, content: 'hello' },
    { role: 'user' as const, content: '2+2?' },
  ],
  maxTokens: 64,
  temperature: 0.2,
};

function reply(overrides: Record<string, unknown> = {}) {
  return {
    output: { message: { role: 'assistant' as const, content: [{ text: '4' }] } },
    stopReason: 'end_turn' as const,
    usage: { inputTokens: 30, outputTokens: 2, totalTokens: 32 },
    metrics: { latencyMs: 120 },
    $metadata: { httpStatusCode: 200 },
    ...overrides,
  };
}

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

describe('Class: BedrockProvider', () => {
  afterEach(() => bedrock.reset());

  it('sends a Converse request with the system prompt, text content blocks and inference config', async () => {
    // Prepare
    bedrock.on(ConverseCommand).resolves(reply());

    // Act
    await provider.complete(request);

    // Assess
    const calls = bedrock.commandCalls(ConverseCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      modelId: MODEL,
      system: [{ text: 'be brief' }],
      messages: [
        { role: 'user', content: [{ text: 'hi' }] },
        { role: 'assistant', content: [{ text: 'hello' }] },
        { role: 'user', content: [{ text: '2+2?' }] },
      ],
      inferenceConfig: { maxTokens: 64, temperature: 0.2 },
    });
  });

  it('leaves out system and temperature when the request has none', async () => {
    // Prepare
    bedrock.on(ConverseCommand).resolves(reply());

    // Act
    await provider.complete({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], maxTokens: 8 });

    // Assess
    expect(bedrock.commandCalls(ConverseCommand)[0]!.args[0].input).toEqual({
      modelId: MODEL,
      messages: [{ role: 'user', content: [{ text: 'hi' }] }],
      inferenceConfig: { maxTokens: 8 },
    });
  });

  it('passes an abort signal that fires at the timeout', async () => {
    // Prepare
    bedrock.on(ConverseCommand).resolves(reply());
    const quick = new BedrockProvider({
      client: new BedrockRuntimeClient({ region: 'eu-west-1' }),
      timeoutMs: 50,
    });

    // Act
    await quick.complete(request);
    // The typed mock only declares the command; the SDK's second argument holds the send options.
    const options = (bedrock.call(0).args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined;
    const abortedAtOnce = options?.abortSignal?.aborted;
    await new Promise((resolve) => setTimeout(resolve, 100));

    // Assess
    expect(abortedAtOnce).toBe(false);
    expect(options?.abortSignal?.aborted).toBe(true);
  });

  it('normalizes the reply: joined text blocks, stop reason, requested model and usage', async () => {
    // Prepare
    bedrock.on(ConverseCommand).resolves(
      reply({
        output: {
          message: {
            role: 'assistant',
            content: [
              { reasoningContent: { reasoningText: { text: 'hmm' } } },
              { text: 'four' },
              { text: ' (2+2)' },
            ],
          },
        },
        stopReason: 'max_tokens',
        usage: { inputTokens: 30, outputTokens: 64, totalTokens: 94 },
      }),
    );

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r).toEqual({
      text: 'four (2+2)',
      stopReason: 'max_tokens',
      model: MODEL,
      usage: { inputTokens: 30, outputTokens: 64, cachedInputTokens: 0 },
    });
  });

  it('adds cache reads and cache writes back into inputTokens, with cache reads as the cached subset', async () => {
    // Prepare: Bedrock's inputTokens counts only the uncached tail of the prompt
    bedrock.on(ConverseCommand).resolves(
      reply({
        usage: {
          inputTokens: 50,
          outputTokens: 7,
          totalTokens: 2357,
          cacheReadInputTokens: 2000,
          cacheWriteInputTokens: 300,
        },
      }),
    );

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r.usage).toEqual({
      inputTokens: 2350,
      outputTokens: 7,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 300,
    });
  });

  it.each([
    ['end_turn', 'end_turn'],
    ['max_tokens', 'max_tokens'],
    ['stop_sequence', 'stop_sequence'],
    ['tool_use', 'tool_use'],
    ['content_filtered', 'content_filter'],
    ['guardrail_intervened', 'content_filter'],
    ['model_context_window_exceeded', 'max_tokens'],
  ] as const)('maps stopReason %s to %s', async (stopReason, expected) => {
    // Prepare
    bedrock.on(ConverseCommand).resolves(reply({ stopReason }));

    // Act
    const r = await provider.complete(request);

    // Assess
    expect(r.stopReason).toBe(expected);
  });

  it('treats a reply without a message as retryable', async () => {
    // Prepare
    bedrock.on(ConverseCommand).resolves(reply({ output: {} }));

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toMatch(/no message/);
  });

  it.each([
    ['ThrottlingException', new ThrottlingException({ message: 'Too many requests', ...meta(429) })],
    ['ServiceUnavailableException', new ServiceUnavailableException({ message: 'down', ...meta(503) })],
    ['InternalServerException', new InternalServerException({ message: 'oops', ...meta(500) })],
    ['ModelTimeoutException', new ModelTimeoutException({ message: 'slow', ...meta(408) })],
    ['ModelNotReadyException', new ModelNotReadyException({ message: 'loading', ...meta(429) })],
    [
      'ModelErrorException without a model status',
      new ModelErrorException({ message: 'model failed', ...meta(424) }),
    ],
    [
      'ModelErrorException with a model 5xx',
      new ModelErrorException({ message: 'model failed', originalStatusCode: 503, ...meta(424) }),
    ],
  ])('maps %s to the retryable LlmProviderError', async (_name, exception) => {
    // Prepare
    bedrock.on(ConverseCommand).rejects(exception);

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as LlmProviderError).name).toBe('LlmProviderError');
    expect((err as LlmProviderError).status).toBe(exception.$metadata.httpStatusCode);
    expect((err as Error).cause).toBe(exception);
    expect((err as Error).message).toContain(exception.name);
  });

  it.each([
    ['ValidationException', new ValidationException({ message: 'Input is too long', ...meta(400) })],
    ['AccessDeniedException', new AccessDeniedException({ message: 'no model access', ...meta(403) })],
    ['ResourceNotFoundException', new ResourceNotFoundException({ message: 'no such model', ...meta(404) })],
    [
      'ServiceQuotaExceededException',
      new ServiceQuotaExceededException({ message: 'Too many tokens per day', ...meta(400) }),
    ],
    [
      'ModelErrorException with a model 4xx',
      new ModelErrorException({ message: 'bad input', originalStatusCode: 400, ...meta(424) }),
    ],
  ])('maps %s to the non-retryable LlmRequestInvalidError', async (_name, exception) => {
    // Prepare
    bedrock.on(ConverseCommand).rejects(exception);

    // Act
    const err = await provider.complete(request).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmRequestInvalidError);
    expect((err as LlmRequestInvalidError).name).toBe('LlmRequestInvalidError');
    expect((err as LlmRequestInvalidError).status).toBe(exception.$metadata.httpStatusCode);
    expect((err as Error).message).toContain(exception.message);
  });

  it('is priced under the bedrock/ key of the model id', () => {
    expect(provider.pricingKey(MODEL)).toEqual({ provider: 'bedrock', model: MODEL });
  });
});

describe('Function: errorForBedrock', () => {
  it.each([
    ['a network failure', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['an abort', Object.assign(new Error('Request aborted'), { name: 'AbortError' })],
    [
      'an unknown server fault',
      { name: 'SomethingNewException', $fault: 'server', $metadata: { httpStatusCode: 502 } },
    ],
  ])('treats %s as retryable', (_what, cause) => {
    expect(errorForBedrock(cause)).toBeInstanceOf(LlmProviderError);
  });

  it.each([
    [
      'an unknown client fault',
      { name: 'SomethingNewException', $fault: 'client', $metadata: { httpStatusCode: 400 } },
    ],
    [
      'missing credentials',
      Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }),
    ],
    [
      'an invalid key',
      { name: 'UnrecognizedClientException', $fault: 'client', $metadata: { httpStatusCode: 403 } },
    ],
  ])('treats %s as not retryable', (_what, cause) => {
    expect(errorForBedrock(cause)).toBeInstanceOf(LlmRequestInvalidError);
  });
});
