import { LlmProviderError, LlmRequestInvalidError } from '../errors.ts';

/** The two errors a provider may throw: ASL retries the first and ends the run on the second. */
export type ProviderError = LlmProviderError | LlmRequestInvalidError;

/**
 * Maps an HTTP status from any provider to the error ASL matches on: 408/409/429 and 5xx are
 * retryable (`LlmProviderError`), every other 4xx is not (`LlmRequestInvalidError`). `detail` is the
 * provider's own error text (the response, never the request), cut to 500 characters.
 */
export function errorForStatus(
  provider: string,
  status: number,
  detail: string,
  retryAfterSeconds?: number,
): ProviderError {
  const message = `${provider} responded ${status}: ${detail.slice(0, 500)}`;
  const options = retryAfterSeconds === undefined ? undefined : { retryAfterSeconds };
  if (status === 408 || status === 409 || status === 429 || status >= 500) {
    return new LlmProviderError(message, status, options);
  }
  return new LlmRequestInvalidError(message, status, options);
}

/**
 * Seconds from a `Retry-After` header: delay-seconds, or an HTTP date (seconds from `now`, at least 0).
 * Undefined when absent or unreadable.
 */
export function retryAfterSeconds(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/** What the boundary knows about the call that failed. */
export interface CallContext {
  /** Where the request went, for the message (never the request body: it holds the prompt). */
  readonly url?: string | undefined;
  /** The caller's signal: the invocation's deadline. */
  readonly deadline?: AbortSignal | undefined;
  /** The call's own timeout and its length. */
  readonly timeout?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

/**
 * The one error boundary of every provider: whatever a call threw becomes an error ASL can match.
 * Errors already classified pass through; an abort by the caller's signal is a retryable failure "at the
 * deadline"; the call's own timeout is a retryable time-out; anything else goes to `classify` (Bedrock:
 * its exception names) and, when that has no opinion, is a retryable failure (network, reset, a body
 * that could not be read).
 */
export function ensureProviderError(
  provider: string,
  cause: unknown,
  context: CallContext = {},
  classify?: (cause: unknown) => ProviderError | undefined,
): ProviderError {
  if (cause instanceof LlmProviderError || cause instanceof LlmRequestInvalidError) return cause;
  const to = context.url ? ` to ${context.url}` : '';
  if (context.deadline?.aborted) {
    return new LlmProviderError(
      `${provider} request${to} aborted at the deadline (${describe(context.deadline.reason)})`,
      undefined,
      { cause, abandoned: true },
    );
  }
  if (context.timeout?.aborted) {
    return new LlmProviderError(
      `${provider} request${to} timed out after ${context.timeoutMs} ms (TimeoutError)`,
      undefined,
      { cause, abandoned: true },
    );
  }
  return (
    classify?.(cause) ??
    new LlmProviderError(`${provider} request${to} failed: ${describe(cause)}`, undefined, { cause })
  );
}

/** `Name: message`, with the code of a network error underneath (fetch only says "fetch failed"). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = error.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof inner?.code === 'string' ? inner.code : undefined;
  const detail = code ?? (typeof inner?.message === 'string' ? inner.message : undefined);
  return `${error.name}: ${error.message}${detail ? ` (${detail})` : ''}`.slice(0, 500);
}
