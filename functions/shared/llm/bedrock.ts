import {
  type BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandOutput,
  type StopReason as ConverseStopReason,
} from '@aws-sdk/client-bedrock-runtime';
import { LlmProviderError, LlmRequestInvalidError } from '../errors.ts';
import { errorForStatus, type ProviderError, retryAfterSeconds } from './errors.ts';
import { withProviderBoundary } from './http-core.ts';
import type { LlmProviderId } from './providers.ts';
import type { LlmProvider, LlmRequest, LlmResponse, StopReason } from './types.ts';
import { settleUsage, tokenCount } from './usage.ts';

export interface BedrockOptions {
  /**
   * Created once per process and shared. Build it with `maxAttempts: 1` so the ASL Retry is the only
   * retry policy (SDK retries would be invisible to step tracking and eat the Lambda timeout).
   */
  readonly client: BedrockRuntimeClient;
  readonly timeoutMs: number;
}

const STOP_REASONS: Record<ConverseStopReason, StopReason> = {
  end_turn: 'end_turn',
  max_tokens: 'max_tokens',
  // The model stopped because the context filled up: for the caller that is a truncated answer.
  model_context_window_exceeded: 'max_tokens',
  stop_sequence: 'stop_sequence',
  tool_use: 'tool_use',
  malformed_tool_use: 'tool_use',
  content_filtered: 'content_filter',
  guardrail_intervened: 'content_filter',
  // The call was paid for; return what came back rather than throw the usage away.
  malformed_model_output: 'end_turn',
};

/** Exceptions a retry can fix: capacity, service faults, and the model being slow or still loading. */
const RETRYABLE = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelTimeoutException',
  'ModelNotReadyException',
  'ModelStreamErrorException',
  'ConflictException',
]);

/**
 * Exceptions a retry cannot fix: a bad request (context too long, wrong parameters), missing model
 * access or IAM permission, an unknown model id, a hard quota (daily token caps; per-minute limits
 * arrive as ThrottlingException), and no AWS credentials at all.
 */
const NOT_RETRYABLE = new Set([
  'ValidationException',
  'AccessDeniedException',
  'ResourceNotFoundException',
  'ServiceQuotaExceededException',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);

interface SdkError {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  /** The raw HTTP response the SDK attaches to a service exception. */
  $response?: { headers?: Record<string, string | undefined> };
  originalStatusCode?: number;
}

/**
 * Maps a Bedrock Runtime SDK failure to the error ASL matches. `ModelErrorException` (HTTP 424: the
 * model itself failed) follows the model's own status when Bedrock reports one and is retryable
 * otherwise. Anything unrecognised follows its HTTP status like the HTTP adapters; a failure with no
 * error status (network, abort, timeout, a 200 whose body does not parse) is retryable. A `Retry-After`
 * on the response is kept as `retryAfterSeconds`. The provider boundary (`ensureProviderError`) calls
 * this after it has dealt with our own timeout and the caller's deadline.
 */
export function errorForBedrock(cause: unknown): ProviderError {
  const e = (typeof cause === 'object' && cause !== null ? cause : {}) as SdkError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const message = `bedrock ${name}: ${e.message ?? String(cause)}`.slice(0, 600);
  const deciding = name === 'ModelErrorException' ? e.originalStatusCode : status;
  const retryable = RETRYABLE.has(name)
    ? true
    : NOT_RETRYABLE.has(name)
      ? false
      : deciding === undefined ||
        deciding < 400 ||
        errorForStatus('bedrock', deciding, '') instanceof LlmProviderError;
  const after = retryAfterSeconds(e.$response?.headers?.['retry-after']);
  const options = { cause, ...(after === undefined ? {} : { retryAfterSeconds: after }) };
  return retryable
    ? new LlmProviderError(message, status, options)
    : new LlmRequestInvalidError(message, status, options);
}

/**
 * Amazon Bedrock Converse adapter. Usage is normalized so `cachedInputTokens` is a subset of
 * `inputTokens`: Bedrock counts cache reads and cache writes apart from `inputTokens`, so both are added
 * back (cache writes are billed at the input price).
 * @example new BedrockProvider({ client: new BedrockRuntimeClient({ maxAttempts: 1 }), timeoutMs: 120_000 })
 */
export class BedrockProvider implements LlmProvider {
  readonly id: LlmProviderId = 'bedrock';
  readonly #options: BedrockOptions;

  constructor(options: BedrockOptions) {
    this.#options = options;
  }

  pricingKey(model: string) {
    return { provider: 'bedrock', model };
  }

  complete(request: LlmRequest, signal?: AbortSignal): Promise<LlmResponse> {
    const command = new ConverseCommand({
      modelId: request.model,
      ...(request.system ? { system: [{ text: request.system }] } : {}),
      messages: request.messages.map((m) => ({ role: m.role, content: [{ text: m.content }] })),
      inferenceConfig: {
        maxTokens: request.maxTokens,
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      },
    });
    return withProviderBoundary(
      this.id,
      { timeoutMs: this.#options.timeoutMs, signal },
      async (abortSignal) => toResponse(request, await this.#options.client.send(command, { abortSignal })),
      errorForBedrock,
    );
  }
}

/** Maps a Converse reply to the provider-neutral response. */
function toResponse(request: LlmRequest, output: ConverseCommandOutput): LlmResponse {
  const message = output.output?.message;
  if (!message) throw new LlmProviderError('bedrock returned no message', output.$metadata.httpStatusCode);
  const input = tokenCount(output.usage?.inputTokens);
  const cacheRead = tokenCount(output.usage?.cacheReadInputTokens) ?? 0;
  const cacheWrite = tokenCount(output.usage?.cacheWriteInputTokens) ?? 0;
  return {
    text: (message.content ?? []).map((block) => block.text ?? '').join(''),
    stopReason: STOP_REASONS[output.stopReason ?? 'end_turn'] ?? 'end_turn',
    // Converse does not echo the model; the id asked for is the one billed.
    model: request.model,
    // inputTokens leaves out cache reads and writes; both are billed as input, so they are added back.
    ...settleUsage(request, {
      inputTokens: input === undefined ? undefined : input + cacheRead + cacheWrite,
      outputTokens: tokenCount(output.usage?.outputTokens),
      cachedInputTokens: cacheRead,
      cacheWriteInputTokens: cacheWrite,
    }),
  };
}
