import { describe, expect, it } from 'vitest';
import { failOpen, llmCacheKey } from '#shared/cache';

const base = {
  provider: 'openai-compatible',
  model: 'gpt-4o-mini',
  system: 'be brief',
  messages: [{ role: 'user', content: 'hi' }],
  maxTokens: 64,
  temperature: 0,
};

describe('Function: llmCacheKey', () => {
  it('is stable for the same request and differs when any part differs', () => {
    const key = llmCacheKey(base);
    expect(llmCacheKey({ ...base, messages: [{ role: 'user', content: 'hi' }] })).toBe(key);
    for (const changed of [
      { ...base, provider: 'anthropic' },
      { ...base, model: 'gpt-4o' },
      { ...base, system: undefined },
      { ...base, maxTokens: 65 },
      { ...base, temperature: 0.1 },
      { ...base, messages: [{ role: 'assistant', content: 'hi' }] },
      {
        ...base,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'user', content: '' },
        ],
      },
    ]) {
      expect(llmCacheKey(changed)).not.toBe(key);
    }
  });

  it('cannot be forged by content that imitates a field boundary', () => {
    const a = llmCacheKey({
      ...base,
      messages: [
        { role: 'user', content: 'x' },
        { role: 'user', content: 'y' },
      ],
    });
    const b = llmCacheKey({ ...base, messages: [{ role: 'user', content: 'x' + 'role:4:usercontent:1:y' }] });
    expect(a).not.toBe(b);
  });
});

describe('Function: failOpen', () => {
  it('reads an error as a miss and reports it', async () => {
    const errors: string[] = [];
    const cache = failOpen(
      {
        kind: 'redis',
        get: () => Promise.reject(new Error('down')),
        set: () => Promise.reject(new Error('down')),
        close: async () => {},
      },
      { timeoutMs: 100, onError: (op) => errors.push(op) },
    );
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('k', 'v', 1);
    expect(errors).toEqual(['get', 'set']);
  });

  it('abandons a call that does not answer within the timeout', async () => {
    const errors: unknown[] = [];
    const cache = failOpen(
      { kind: 'redis', get: () => new Promise(() => {}), set: async () => {}, close: async () => {} },
      { timeoutMs: 30, onError: (_, e) => errors.push(e) },
    );
    const t0 = performance.now();
    expect(await cache.get('k')).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(500);
    expect(String(errors[0])).toMatch(/timed out after 30 ms/);
  });

  it('passes values through when the cache works', async () => {
    const cache = failOpen(
      { kind: 'store', get: async () => 'v', set: async () => {}, close: async () => {} },
      { timeoutMs: 30, onError: () => {} },
    );
    expect(await cache.get('k')).toBe('v');
  });
});
