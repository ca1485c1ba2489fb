import { createHash } from 'node:crypto';
import type { ResponseCache } from './ports/cache.ts';

/**
 * The cache key of a model request: a SHA-256 over its canonical fields (provider, model, system prompt,
 * sampling parameters, then each message's role and content, each length-prefixed), so the same request
 * from any execution hits the same entry.
 */
export function llmCacheKey(request: {
  provider: string;
  model: string;
  system?: string | undefined;
  messages: readonly { role: string; content: string }[];
  maxTokens: number;
  temperature?: number | undefined;
}): string {
  // Streamed into the hash field by field (fixed order = canonical): no intermediate JSON document, so the
  // hit path allocates little and stays clear of GC pauses.
  const hash = createHash('sha256');
  const field = (name: string, value: string | number | null) => {
    const text = typeof value === 'string' ? value : String(value);
    // Length-prefixed, so no content can imitate a field boundary.
    hash.update(`${name}:${text.length}:`);
    hash.update(text);
  };
  field('v', 1);
  field('provider', request.provider);
  field('model', request.model);
  field('system', request.system ?? null);
  field('maxTokens', request.maxTokens);
  field('temperature', request.temperature ?? null);
  for (const m of request.messages) {
    field('role', m.role);
    field('content', m.content);
  }
  return `wflo:llm:v1:${hash.digest('hex')}`;
}

/**
 * Wraps a cache so it can never fail or stall a call: any error is reported to `onError` and read as a
 * miss (get) or ignored (set). An adapter that bounds its own latency (`boundedLatency`, e.g. Redis with a
 * command timeout) is only guarded against errors, so the hit path allocates no timer; any other adapter
 * is abandoned after `timeoutMs`.
 */
export function failOpen(
  cache: ResponseCache,
  options: { timeoutMs: number; onError: (operation: 'get' | 'set', error: unknown) => void },
): ResponseCache {
  const guard = <T>(operation: 'get' | 'set', run: () => Promise<T>, fallback: T): Promise<T> => {
    if (cache.boundedLatency) {
      // The adapter times its own calls out: only errors need catching, and the hit path allocates no timer.
      return run().catch((error: unknown) => {
        options.onError(operation, error);
        return fallback;
      });
    }
    return new Promise<T>((resolve) => {
      let settled = false;
      const done = (value: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        options.onError(operation, new Error(`cache ${operation} timed out after ${options.timeoutMs} ms`));
        done(fallback);
      }, options.timeoutMs);
      run().then(done, (error: unknown) => {
        if (!settled) options.onError(operation, error);
        done(fallback);
      });
    });
  };
  return {
    kind: cache.kind,
    boundedLatency: true,
    get: (key) => guard('get', () => cache.get(key), undefined),
    set: (key, value, ttl) => guard('set', () => cache.set(key, value, ttl), undefined),
    close: () => cache.close(),
  };
}
