import { LlmProviderError } from '../errors.ts';
import {
  type CallContext,
  ensureProviderError,
  errorForStatus,
  type ProviderError,
  retryAfterSeconds,
} from './errors.ts';

/** What every provider call takes besides its request: its own timeout and the caller's deadline. */
export interface CallLimits {
  readonly timeoutMs: number;
  /** The caller's signal (the invocation's deadline); aborting it fails the call "at the deadline". */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs one provider call under its timeout and the caller's signal, and turns whatever it throws into
 * `LlmProviderError`/`LlmRequestInvalidError` (see `ensureProviderError`). `call` gets the combined
 * signal and must do all its I/O, body included, inside: that is what keeps a stalled body a provider
 * error.
 */
export async function withProviderBoundary<T>(
  provider: string,
  limits: CallLimits & { readonly url?: string },
  call: (signal: AbortSignal) => Promise<T>,
  classify?: (cause: unknown) => ProviderError | undefined,
): Promise<T> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = limits.signal ? AbortSignal.any([limits.signal, timeout]) : timeout;
  const context: CallContext = {
    url: limits.url,
    deadline: limits.signal,
    timeout,
    timeoutMs: limits.timeoutMs,
  };
  try {
    // Checked here too: a deadline already past must not reach the network.
    signal.throwIfAborted();
    return await call(signal);
  } catch (cause) {
    throw ensureProviderError(provider, cause, context, classify);
  }
}

/** One JSON POST to a provider's HTTP API. */
export interface JsonPost extends CallLimits {
  /** Provider id, for messages. */
  readonly provider: string;
  readonly url: string;
  /** Sent besides `content-type: application/json` (keys, versions). */
  readonly headers: Readonly<Record<string, string>>;
  /** Serialized as JSON; never copied into an error. */
  readonly body: unknown;
  readonly fetch?: typeof fetch | undefined;
}

/**
 * The HTTP core of the OpenAI-compatible and Anthropic adapters: POSTs `body` as JSON, reads the whole
 * response within the timeout, maps a non-2xx status by `errorForStatus` (keeping `Retry-After`), parses
 * JSON (a body that is not JSON is retryable) and hands it to `read`, the adapter's mapping to its
 * response; anything `read` throws is classified too.
 * @example await postJson({ provider: 'anthropic', url, headers, body, timeoutMs: 60_000 }, toResponse)
 */
export function postJson<T>(post: JsonPost, read: (json: unknown, status: number) => T): Promise<T> {
  return withProviderBoundary(post.provider, post, async (signal) => {
    const response = await (post.fetch ?? fetch)(post.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...post.headers },
      body: JSON.stringify(post.body),
      signal,
    });
    const text = await response.text();
    if (!response.ok) {
      throw errorForStatus(
        post.provider,
        response.status,
        text,
        retryAfterSeconds(response.headers.get('retry-after')),
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new LlmProviderError(`${post.provider} returned a body that is not JSON`, response.status, {
        cause,
      });
    }
    return read(json, response.status);
  });
}
