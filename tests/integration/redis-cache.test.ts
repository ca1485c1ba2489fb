import { afterAll, describe, expect, it } from 'vitest';
import { redisCache } from '#shared/adapters/redis-cache';
import { failOpen } from '#shared/cache';

const url = process.env.REDIS_URL;
if (!url) throw new Error('REDIS_URL is not set: run through `npm run test:integration`');
const cache = redisCache({ kind: 'url', url });

afterAll(async () => {
  await cache.close();
});

describe('Adapter: redisCache (real Redis on loopback)', () => {
  it('stores and reads a value, overwrites it, and misses an unknown key', async () => {
    await cache.set('wflo:test:a', 'one', 60);
    await cache.set('wflo:test:a', 'two', 60);
    expect(await cache.get('wflo:test:a')).toBe('two');
    expect(await cache.get('wflo:test:missing')).toBeUndefined();
  });

  it('expires entries after their TTL', async () => {
    await cache.set('wflo:test:ttl', 'soon gone', 1);
    expect(await cache.get('wflo:test:ttl')).toBe('soon gone');
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await cache.get('wflo:test:ttl')).toBeUndefined();
  });

  it('fails open against a server that is not there: a miss, quickly, and the error reported', async () => {
    const errors: unknown[] = [];
    const down = failOpen(redisCache({ kind: 'url', url: 'redis://127.0.0.1:1' }), {
      timeoutMs: 200,
      onError: (_, e) => errors.push(e),
    });
    const t0 = performance.now();
    expect(await down.get('k')).toBeUndefined();
    await down.set('k', 'v', 10);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(errors).toHaveLength(2);
    await down.close();
  });
});
