/**
 * cache-budget: the two hot paths of the cost machinery against real servers on loopback.
 * - Cache hit: what llm-invoke does on a hit (hash the canonical request, fail-open GET through the Redis
 *   adapter, parse) next to a raw iovalkey GET of the same value, interleaved, same connection pool size.
 * - Budget: reserve + settle (the two statements around every model call, the settlement with its event
 *   and kept result as llm-invoke writes it) against PostgreSQL.
 * - All kinds: what one model-call step now holds and settles around its work: the middleware's transition
 *   and compute holds (holdStep), the call's reserve + settle, and the step's close settling its compute.
 * - Floor, interleaved with both: the same number of round trips over the same pool with a prepared
 *   `SELECT 1`, so a tail that the machine sets (scheduling on a busy host) shows as such next to ours.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Redis } from 'iovalkey';
import { openDb } from '#local/engine/db/client';
import { redisCache } from '#shared/adapters/redis-cache';
import { failOpen, llmCacheKey } from '#shared/cache';
import { holdStep } from '#shared/middleware/budget';
import { createStore } from '#shared/store/create-store';
import { createTestDatabase } from '../helpers/database.ts';
import { type BenchResult, percentile, report, target } from './lib.ts';
import { serviceUrls } from './services.ts';

const N = 20_000;

async function cacheHit(redisUrl: string) {
  const messages = Array.from({ length: 6 }, (_, i) => ({
    role: i % 2 ? ('assistant' as const) : ('user' as const),
    content: `turn ${i}: ${'lorem ipsum '.repeat(40)}`,
  }));
  const request = {
    provider: 'openai-compatible',
    model: 'gpt-4o-mini',
    system: 'be brief',
    messages,
    maxTokens: 512,
    temperature: 0,
  };
  const value = JSON.stringify({
    text: 'x'.repeat(1500),
    stopReason: 'end_turn',
    usage: { inputTokens: 900, outputTokens: 300, cachedInputTokens: 0 },
  });
  const raw = new Redis(redisUrl);
  const cache = failOpen(redisCache({ kind: 'url', url: redisUrl }), { timeoutMs: 250, onError: () => {} });
  const key = llmCacheKey(request);
  await cache.set(key, value, 3600);
  await raw.set('bench:raw', value);
  const rawMs: number[] = [];
  const hitMs: number[] = [];
  for (let i = 0; i < 500; i++) {
    await raw.get('bench:raw');
    await cache.get(llmCacheKey(request));
  }
  for (let i = 0; i < N; i++) {
    // Interleaved, so both see the same machine state.
    let t0 = performance.now();
    await raw.get('bench:raw');
    rawMs.push(performance.now() - t0);
    t0 = performance.now();
    const hit = await cache.get(llmCacheKey(request));
    JSON.parse(hit!);
    hitMs.push(performance.now() - t0);
  }
  raw.disconnect();
  await cache.close();
  return { rawMs, hitMs };
}

async function reserveSettle(databaseUrl: string) {
  // A database of its own, migrated fresh, dropped afterwards.
  const db = await createTestDatabase(databaseUrl);
  const conn = await openDb({ kind: 'postgres', url: db.url!, poolSize: 4 });
  const store = createStore(conn);
  const ping = conn.db.select({ one: sql<number>`1` }).from(sql`(select 1) as t`).prepare('bench_floor');
  /** `trips` prepared round trips that do nothing: what the machine and the driver cost on their own. */
  const floor = async (trips: number) => {
    const t0 = performance.now();
    for (let k = 0; k < trips; k++) await ping.execute();
    return performance.now() - t0;
  };
  const id = `bench-${randomUUID()}`;
  await store.createExecution({ id, workflow: 'bench', input: {}, budgetMicros: 10 ** 12 });
  const ms: number[] = [];
  const floorMs: number[] = [];
  for (let i = 0; i < 200; i++) {
    await floor(2);
    await store.reserveBudget({ key: `${id}/w${i}`, executionId: id, amountMicros: 1000 });
    await store.recordCost(
      { executionId: id, kind: 'llm', usdMicros: 300, idempotencyKey: `${id}/w${i}/c` },
      [],
      { reservationKey: `${id}/w${i}` },
    );
  }
  for (let i = 0; i < 2000; i++) {
    floorMs.push(await floor(2));
    const t0 = performance.now();
    await store.reserveBudget({ key: `${id}/${i}`, executionId: id, amountMicros: 1000 });
    // As llm-invoke settles: the ledger row, its llm.called event and the kept result, in one statement.
    await store.recordCost(
      { executionId: id, kind: 'llm', usdMicros: 300, idempotencyKey: `${id}/${i}/c` },
      [{ type: 'llm.called', payload: { executionId: id, model: 'gpt-4o-mini', costMicros: 300 } }],
      {
        reservationKey: `${id}/${i}`,
        result: { key: `${id}/${i}/r`, value: { text: 'answer', costMicros: 300 } },
      },
    );
    ms.push(performance.now() - t0);
  }
  // Every kind: the step's holds, the call's reserve + settle, and the close that settles compute.
  const allKinds: number[] = [];
  const allKindsFloor: number[] = [];
  const context = { memoryLimitInMB: '512', getRemainingTimeInMillis: () => 300_000 };
  for (let i = 0; i < 2200; i++) {
    const enteredAt = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString();
    const row = await store.beginStep({
      executionId: id,
      stateName: 'Ask',
      activity: 'llm-invoke',
      enteredAt,
      attempt: 0,
    });
    const resultKey = `${id}/Ask/${enteredAt}/llm-invoke`;
    const floor4 = await floor(4);
    const t0 = performance.now();
    const holds = await holdStep(
      store,
      'llm-invoke',
      { executionId: id, stateName: 'Ask', stepId: row.id, resultKey, attempt: 0 },
      context,
      4,
    );
    await store.reserveBudget({
      key: `${resultKey}/0`,
      executionId: id,
      amountMicros: 1000,
      stepId: row.id,
      stateName: 'Ask',
      provider: 'openai',
      model: 'gpt-4o-mini',
    });
    await store.recordCost(
      {
        executionId: id,
        stepId: row.id,
        stateName: 'Ask',
        kind: 'llm',
        usdMicros: 300,
        idempotencyKey: `${resultKey}/cost`,
      },
      [{ type: 'llm.called', payload: { executionId: id, model: 'gpt-4o-mini', costMicros: 300 } }],
      {
        reservationKey: `${resultKey}/0`,
        result: { key: resultKey, value: { text: 'answer', costMicros: 300 } },
      },
    );
    await store.completeStep({
      stepId: row.id,
      status: 'succeeded',
      durationMs: 3,
      computeMicros: 1,
      reservationKey: holds.computeKey!,
    });
    // The first 200 warm the connections and plans, as above.
    if (i >= 200) {
      allKinds.push(performance.now() - t0);
      allKindsFloor.push(floor4);
    }
  }
  await store.close();
  await db.drop();
  return { ms, floorMs, allKinds, allKindsFloor };
}

export async function run(): Promise<BenchResult> {
  const { databaseUrl, redisUrl } = serviceUrls();
  const { rawMs, hitMs } = await cacheHit(redisUrl);
  const { ms: settle, floorMs, allKinds, allKindsFloor } = await reserveSettle(databaseUrl);
  const ratio = percentile(hitMs, 99) / percentile(rawMs, 99);
  return {
    name: 'cache-budget',
    figures: {
      'cache samples': N,
      'raw Redis GET p50 (ms)': percentile(rawMs, 50),
      'raw Redis GET p99 (ms)': percentile(rawMs, 99),
      'cache hit p50 (ms)': percentile(hitMs, 50),
      'cache hit p99 (ms)': percentile(hitMs, 99),
      'ratio cache hit / raw GET p99': ratio,
      'reserve+settle samples': settle.length,
      'reserve+settle p50 (ms)': percentile(settle, 50),
      'reserve+settle p99 (ms)': percentile(settle, 99),
      'floor: 2 x SELECT 1 p50 (ms)': percentile(floorMs, 50),
      'floor: 2 x SELECT 1 p99 (ms)': percentile(floorMs, 99),
      'all kinds: holds + reserve+settle + close p50 (ms)': percentile(allKinds, 50),
      'all kinds: holds + reserve+settle + close p99 (ms)': percentile(allKinds, 99),
      'floor: 4 x SELECT 1 p50 (ms)': percentile(allKindsFloor, 50),
      'floor: 4 x SELECT 1 p99 (ms)': percentile(allKindsFloor, 99),
    },
    targets: {
      'ratio cache hit / raw GET p99': target(ratio, 1.5),
      'reserve+settle p99 (ms)': target(percentile(settle, 99), 5),
      'all kinds: holds + reserve+settle + close p99 (ms)': target(percentile(allKinds, 99), 5),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) report(await run());
