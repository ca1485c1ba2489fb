import { createHash } from 'node:crypto';
import type { ResponseCache } from './ports/cache.ts';
import { canonicalJson } from './store.ts';

/**
 * The cache key of a model request: a SHA-256 of its canonical JSON (provider, model, system prompt,
 * messages, sampling parameters), so the same request from any execution hits the same entry.
 */
export function llmCacheKey(request: {
  provider: string;
  model: string;
  system?: string | undefined;
  messages: readonly { role: string; content: string }[];
  maxTokens: number;
  temperature?: number | undefined;
}): string {
  const digest = createHash('sha256')
    .update(
      canonicalJson({
        provider: request.provider,
        model: request.model,
        system: request.system ?? null,
        messages: request.messages,
        maxTokens: request.maxTokens,
        temperature: request.temperature ?? null,
      }),
    )
    .digest('hex');
  return `wflo:llm:v1:${digest}`;
}

/**
 * Wraps a cache so it can never fail or stall a call: each operation is abandoned after `timeoutMs`, and
 * any error is reported to `onError` and read as a miss (get) or ignored (set).
 */
export function failOpen(
  cache: ResponseCache,
  options: { timeoutMs: number; onError: (operation: 'get' | 'set', error: unknown) => void },
): ResponseCache {
  const guard = async <T>(operation: 'get' | 'set', run: () => Promise<T>, fallback: T): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`cache ${operation} timed out after ${options.timeoutMs} ms`)),
            options.timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      options.onError(operation, error);
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    kind: cache.kind,
    get: (key) => guard('get', () => cache.get(key), undefined),
    set: (key, value, ttl) => guard('set', () => cache.set(key, value, ttl), undefined),
    close: () => cache.close(),
  };
}
