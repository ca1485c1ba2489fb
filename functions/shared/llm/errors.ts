import { LlmProviderError, LlmRequestInvalidError } from '../errors.ts';

/**
 * Maps an HTTP status from any provider to the error ASL matches on: 408/409/429 and 5xx are
 * retryable (`LlmProviderError`), every other 4xx is not (`LlmRequestInvalidError`).
 */
export function errorForStatus(provider: string, status: number, detail: string): Error {
  const message = `${provider} responded ${status}: ${detail.slice(0, 500)}`;
  if (status === 408 || status === 409 || status === 429 || status >= 500) {
    return new LlmProviderError(message, status);
  }
  return new LlmRequestInvalidError(message, status);
}
