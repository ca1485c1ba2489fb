import { and, eq, gt, lt, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { cacheEntries } from '../db/schema.ts';
import type { ResponseCache } from '../ports/cache.ts';

/**
 * Response cache in the wflo database (table `cache_entries`): the embedded default, where PGlite runs
 * in-process, so cached answers survive between `wflo run`s. Expired rows are ignored on read and purged
 * now and then on write.
 */
export function storeCache(db: WfloDb): ResponseCache {
  let writes = 0;
  // Built once: drizzle's query building costs more than the lookup itself.
  const lookup = db
    .select({ value: cacheEntries.value })
    .from(cacheEntries)
    .where(and(eq(cacheEntries.key, sql.placeholder('key')), gt(cacheEntries.expiresAt, sql`now()`)))
    .prepare('wflo_cache_get');
  return {
    kind: 'store',
    async get(key) {
      const [row] = await lookup.execute({ key });
      return row?.value;
    },
    async set(key, value, ttlSeconds) {
      const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
      await db
        .insert(cacheEntries)
        .values({ key, value, expiresAt })
        .onConflictDoUpdate({ target: cacheEntries.key, set: { value, expiresAt } });
      if (++writes % 500 === 0) await db.delete(cacheEntries).where(lt(cacheEntries.expiresAt, sql`now()`));
    },
    close: async () => {},
  };
}
